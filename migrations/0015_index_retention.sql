-- Retention (application/housekeeping.py): the service forgets, in batches and oldest first, Idempotency-Keys past
-- their 24 hours, audit events past the configured retention, and settled webhook deliveries past theirs, with the
-- events none is left for. Each purge reads one of these indexes instead of the whole table.

CREATE INDEX idx_agent_idempotency_keys_created_at ON agent_idempotency_keys (created_at);
CREATE INDEX idx_agent_audit_events_occurred_at ON agent_audit_events (occurred_at);
CREATE INDEX webhook_deliveries_settled_idx ON webhook_deliveries (created_at) WHERE status <> 'pending';
CREATE INDEX webhook_deliveries_event_idx ON webhook_deliveries (event_id);
