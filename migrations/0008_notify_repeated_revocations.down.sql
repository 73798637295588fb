-- Undoes 0008: a repeated revocation is silent again, as 0007 made it.
DROP TRIGGER agent_api_tokens_notify_change ON agent_api_tokens;
CREATE TRIGGER agent_api_tokens_notify_change
    AFTER UPDATE ON agent_api_tokens
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash
          OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.org_id IS DISTINCT FROM NEW.org_id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION org_agents_notify_token();
