-- A revocation repeated on a revoked token (`org-agents token revoke` again, or an UPDATE from psql) changes no
-- column, so 0007's trigger stayed silent: a service that still held the token's principal (its first notice lost:
-- written while triggers were off, in replica mode, by a restore) kept accepting it. Now any update of a revoked
-- token's row announces it too. Revoked tokens are never used, so nothing else updates them.
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
