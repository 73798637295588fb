-- What the service adds to the seed: organizations, API tokens (only a SHA-256 hash of each secret is kept) and
-- the audit trail. Prefixed agent_ so they can never collide with the old system's organization or users tables.

CREATE TABLE agent_organizations (
    id         UUID         PRIMARY KEY DEFAULT gen_random_uuid(),
    name       VARCHAR(255) NOT NULL,
    created_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    CONSTRAINT agent_organizations_name_key UNIQUE (name),
    CONSTRAINT agent_organizations_name_check CHECK (btrim(name) <> '')
);

-- Agents written before this file (by the seed's SQL, say) keep working: their organizations are registered
-- under their id as name.
INSERT INTO agent_organizations (id, name)
SELECT DISTINCT org_id, org_id::TEXT FROM org_agents
ON CONFLICT DO NOTHING;

ALTER TABLE org_agents
    ADD CONSTRAINT org_agents_org_id_fkey FOREIGN KEY (org_id) REFERENCES agent_organizations (id);

CREATE TABLE agent_api_tokens (
    id          UUID         PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      UUID         NOT NULL REFERENCES agent_organizations (id),
    user_id     VARCHAR(255) NOT NULL,
    role        VARCHAR(10)  NOT NULL,
    secret_hash BYTEA        NOT NULL,
    created_at  TIMESTAMPTZ  NOT NULL DEFAULT now(),
    revoked_at  TIMESTAMPTZ,
    CONSTRAINT agent_api_tokens_secret_hash_key UNIQUE (secret_hash),
    CONSTRAINT agent_api_tokens_secret_hash_check CHECK (length(secret_hash) = 32),
    CONSTRAINT agent_api_tokens_user_id_check CHECK (btrim(user_id) <> ''),
    CONSTRAINT agent_api_tokens_role_check CHECK (role IN ('owner', 'admin', 'member'))
);

CREATE INDEX idx_agent_api_tokens_org_id ON agent_api_tokens (org_id, created_at);

-- One row per state change, written in the same transaction as the change.
CREATE TABLE agent_audit_events (
    id          UUID         PRIMARY KEY DEFAULT gen_random_uuid(),
    org_id      UUID         NOT NULL REFERENCES agent_organizations (id),
    actor       VARCHAR(255) NOT NULL,
    action      VARCHAR(64)  NOT NULL,
    target_id   UUID         NOT NULL,
    occurred_at TIMESTAMPTZ  NOT NULL DEFAULT now(),
    details     JSONB        NOT NULL DEFAULT '{}'
);

CREATE INDEX idx_agent_audit_events_org_id ON agent_audit_events (org_id, occurred_at);
CREATE INDEX idx_agent_audit_events_target_id ON agent_audit_events (target_id, occurred_at);
