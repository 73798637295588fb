-- Tokens gain a name for people, a scope (manage: what the role allows; prompt: only the live prompt and /whoami,
-- the key to give an LLM runtime) and an optional expiry; last_used_at is kept coarsely (one write per token per
-- minute at most). Existing tokens keep working: scope manage, no expiry.
ALTER TABLE agent_api_tokens
    ADD COLUMN name VARCHAR(100),
    ADD COLUMN scope VARCHAR(10) NOT NULL DEFAULT 'manage',
    ADD COLUMN expires_at TIMESTAMPTZ,
    ADD COLUMN last_used_at TIMESTAMPTZ,
    ADD CONSTRAINT agent_api_tokens_scope_check CHECK (scope IN ('manage', 'prompt')),
    ADD CONSTRAINT agent_api_tokens_name_check CHECK (name IS NULL OR btrim(name) <> '');

-- GET /tokens pages newest first by (created_at, id).
DROP INDEX idx_agent_api_tokens_org_id;
CREATE INDEX idx_agent_api_tokens_org_id ON agent_api_tokens (org_id, created_at, id);

-- A change of scope or expiry changes what a cached principal may do: announce it, as a revocation is. A use
-- (last_used_at) or a rename changes nothing a service holds, and stays silent.
DROP TRIGGER agent_api_tokens_notify_change ON agent_api_tokens;
CREATE TRIGGER agent_api_tokens_notify_change
    AFTER UPDATE ON agent_api_tokens
    FOR EACH ROW
    WHEN (OLD.revoked_at IS DISTINCT FROM NEW.revoked_at
          OR NEW.revoked_at IS NOT NULL
          OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash
          OR OLD.role IS DISTINCT FROM NEW.role
          OR OLD.org_id IS DISTINCT FROM NEW.org_id
          OR OLD.user_id IS DISTINCT FROM NEW.user_id
          OR OLD.scope IS DISTINCT FROM NEW.scope
          OR OLD.expires_at IS DISTINCT FROM NEW.expires_at)
    EXECUTE FUNCTION org_agents_notify_token();
