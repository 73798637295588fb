-- The audit trail, readable (DESIGN.md, "Activity"): each event names the agent it is about (agent.* and label.*:
-- their target; blueprint.*: the version's agent; token.*: none), and every filtered page of a trail, newest first by
-- (occurred_at, id), is one range of one index, so a page costs the same with a million events in the organization.
ALTER TABLE agent_audit_events ADD COLUMN agent_id UUID;

-- Events written before this file: found through their target, in their own organization.
UPDATE agent_audit_events e
SET agent_id = a.id
FROM org_agents a
WHERE a.id = e.target_id AND a.org_id = e.org_id;

UPDATE agent_audit_events e
SET agent_id = b.agent_id
FROM agent_blueprints b
JOIN org_agents a ON a.id = b.agent_id
WHERE b.id = e.target_id AND a.org_id = e.org_id;

-- The organization's trail, one agent's (its versions' and labels' events included), one actor's, one action's.
-- These replace 0004's (org_id, occurred_at), which lacks the id that orders the events of one instant, and (target_id,
-- occurred_at), which no query reads.
DROP INDEX idx_agent_audit_events_org_id;
DROP INDEX idx_agent_audit_events_target_id;
CREATE INDEX idx_agent_audit_events_org_id ON agent_audit_events (org_id, occurred_at, id);
CREATE INDEX idx_agent_audit_events_agent_id ON agent_audit_events (org_id, agent_id, occurred_at, id);
CREATE INDEX idx_agent_audit_events_actor ON agent_audit_events (org_id, actor, occurred_at, id);
CREATE INDEX idx_agent_audit_events_action ON agent_audit_events (org_id, action, occurred_at, id);
