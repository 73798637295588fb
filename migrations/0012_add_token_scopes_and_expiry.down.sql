DROP TRIGGER agent_api_tokens_notify_change ON agent_api_tokens;
CREATE TRIGGER agent_api_tokens_notify_change
    AFTER UPDATE ON agent_api_tokens
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR NEW.revoked_at IS NOT NULL
          OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash
          OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.org_id IS DISTINCT FROM NEW.org_id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id)
    EXECUTE FUNCTION org_agents_notify_token();

DROP INDEX idx_agent_api_tokens_org_id;
CREATE INDEX idx_agent_api_tokens_org_id ON agent_api_tokens (org_id, created_at);

-- A prompt-scope or expiring token would become a full, endless one: refuse rather than widen what a key may do.
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM agent_api_tokens WHERE revoked_at IS NULL AND (scope <> 'manage' OR expires_at IS NOT NULL))
    THEN
        RAISE EXCEPTION 'unrevoked tokens with scope prompt or an expiry exist: revoke them before undoing 0012';
    END IF;
END
$$;

ALTER TABLE agent_api_tokens
    DROP COLUMN last_used_at,
    DROP COLUMN expires_at,
    DROP COLUMN scope,
    DROP COLUMN name;
