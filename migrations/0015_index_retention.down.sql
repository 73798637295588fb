-- Undoes 0015: the purges' indexes (nothing else was changed).
DROP INDEX webhook_deliveries_event_idx;
DROP INDEX webhook_deliveries_settled_idx;
DROP INDEX idx_agent_idempotency_keys_created_at;
