-- Undoes 0002: drops the new agent schema (and every agent and version in it).
DROP FUNCTION create_blueprint_version(UUID, JSONB, VARCHAR, VARCHAR);
DROP FUNCTION get_latest_blueprint_version(UUID);
DROP VIEW active_agents_with_blueprints;
ALTER TABLE org_agents DROP CONSTRAINT org_agents_current_blueprint_fkey;
DROP TABLE agent_blueprints;
DROP FUNCTION agent_blueprints_keep_history();
DROP TABLE org_agents;
