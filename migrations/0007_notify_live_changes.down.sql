-- Undoes 0007: no more change notices. Services that follow them stop caching (they check for these triggers).
DROP TRIGGER agent_api_tokens_notify_truncate ON agent_api_tokens;
DROP TRIGGER agent_blueprints_notify_truncate ON agent_blueprints;
DROP TRIGGER org_agents_notify_truncate ON org_agents;
DROP TRIGGER agent_api_tokens_notify_delete ON agent_api_tokens;
DROP TRIGGER agent_api_tokens_notify_change ON agent_api_tokens;
DROP TRIGGER agent_blueprints_notify_delete ON agent_blueprints;
DROP TRIGGER agent_blueprints_notify_change ON agent_blueprints;
DROP TRIGGER org_agents_notify_delete ON org_agents;
DROP TRIGGER org_agents_notify_change ON org_agents;
DROP FUNCTION org_agents_notify_reset();
DROP FUNCTION org_agents_notify_token();
DROP FUNCTION org_agents_notify_version();
DROP FUNCTION org_agents_notify_agent();
