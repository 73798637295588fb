-- Change notices for the services' in-memory live cache (application/live_cache.py): every change that can alter
-- what GET /org-agents/{id}/prompt answers, or who a token is, is announced on the channel org_agents_changes when
-- its transaction commits, whoever made it (a service, the CLI, psql). Payloads: 'agent:<agent uuid>',
-- 'token:<token uuid>', or 'reset' (a TRUNCATE: forget everything).

CREATE FUNCTION org_agents_notify_agent() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('org_agents_changes', 'agent:' || (CASE TG_OP WHEN 'DELETE' THEN OLD.id ELSE NEW.id END));
    RETURN NULL;
END
$$;

CREATE FUNCTION org_agents_notify_version() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('org_agents_changes',
                      'agent:' || (CASE TG_OP WHEN 'DELETE' THEN OLD.agent_id ELSE NEW.agent_id END));
    RETURN NULL;
END
$$;

CREATE FUNCTION org_agents_notify_token() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('org_agents_changes', 'token:' || (CASE TG_OP WHEN 'DELETE' THEN OLD.id ELSE NEW.id END));
    RETURN NULL;
END
$$;

CREATE FUNCTION org_agents_notify_reset() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('org_agents_changes', 'reset');
    RETURN NULL;
END
$$;

-- An agent's status and live version decide what it serves; its name and description do not.
CREATE TRIGGER org_agents_notify_change
    AFTER UPDATE ON org_agents
    FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status
          OR OLD.current_blueprint_id IS DISTINCT FROM NEW.current_blueprint_id
          OR OLD.org_id IS DISTINCT FROM NEW.org_id)
    EXECUTE FUNCTION org_agents_notify_agent();
CREATE TRIGGER org_agents_notify_delete
    AFTER DELETE ON org_agents
    FOR EACH ROW EXECUTE FUNCTION org_agents_notify_agent();

-- Compiling the live version (an imported agent may point at a draft) makes it servable.
CREATE TRIGGER agent_blueprints_notify_change
    AFTER UPDATE ON agent_blueprints
    FOR EACH ROW
    WHEN (OLD.compilation_status IS DISTINCT FROM NEW.compilation_status
          OR OLD.compiled_system_prompt IS DISTINCT FROM NEW.compiled_system_prompt
          OR OLD.compiled_at IS DISTINCT FROM NEW.compiled_at)
    EXECUTE FUNCTION org_agents_notify_version();
CREATE TRIGGER agent_blueprints_notify_delete
    AFTER DELETE ON agent_blueprints
    FOR EACH ROW EXECUTE FUNCTION org_agents_notify_version();

CREATE TRIGGER agent_api_tokens_notify_change
    AFTER UPDATE ON agent_api_tokens
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash
          OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.org_id IS DISTINCT FROM NEW.org_id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION org_agents_notify_token();
CREATE TRIGGER agent_api_tokens_notify_delete
    AFTER DELETE ON agent_api_tokens
    FOR EACH ROW EXECUTE FUNCTION org_agents_notify_token();

CREATE TRIGGER org_agents_notify_truncate
    AFTER TRUNCATE ON org_agents
    FOR EACH STATEMENT EXECUTE FUNCTION org_agents_notify_reset();
CREATE TRIGGER agent_blueprints_notify_truncate
    AFTER TRUNCATE ON agent_blueprints
    FOR EACH STATEMENT EXECUTE FUNCTION org_agents_notify_reset();
CREATE TRIGGER agent_api_tokens_notify_truncate
    AFTER TRUNCATE ON agent_api_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION org_agents_notify_reset();
