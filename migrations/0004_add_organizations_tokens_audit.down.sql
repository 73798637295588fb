-- Undoes 0004: drops the audit trail, every token and the organizations' names.
DROP TABLE agent_audit_events;
DROP TABLE agent_api_tokens;
ALTER TABLE org_agents DROP CONSTRAINT org_agents_org_id_fkey;
DROP TABLE agent_organizations;
