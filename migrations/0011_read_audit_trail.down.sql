-- Undoes 0011: the indexes are 0004's again and events lose their agent_id (their target still names the agent, or
-- the version whose agent it is).
DROP INDEX idx_agent_audit_events_action;
DROP INDEX idx_agent_audit_events_actor;
DROP INDEX idx_agent_audit_events_agent_id;
DROP INDEX idx_agent_audit_events_org_id;
CREATE INDEX idx_agent_audit_events_org_id ON agent_audit_events (org_id, occurred_at);
CREATE INDEX idx_agent_audit_events_target_id ON agent_audit_events (target_id, occurred_at);

ALTER TABLE agent_audit_events DROP COLUMN agent_id;
