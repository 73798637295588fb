-- Retention (application/housekeeping.py): the service forgets, in batches and oldest first, Idempotency-Keys past
-- their 24 hours and settled webhook deliveries past theirs, with the events none is left for. Each purge reads one
-- of these indexes instead of the whole table. Audit events past the configured retention are purged organization by
-- organization along the trail's own index (adapters/postgres/audit.py says why there is no index for them here).

CREATE INDEX idx_agent_idempotency_keys_created_at ON agent_idempotency_keys (created_at);
CREATE INDEX webhook_deliveries_settled_idx ON webhook_deliveries (created_at) WHERE status <> 'pending';
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
