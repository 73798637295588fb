-- Idempotent retries of the creating POSTs: the first answer to an (organization, Idempotency-Key) is kept, written
-- in the same transaction as what it created, so a retry gets that answer back and creates nothing. Keys expire
-- after 24 hours (the service ignores and then reuses older rows).

CREATE TABLE agent_idempotency_keys (
    org_id       UUID         NOT NULL REFERENCES agent_organizations (id),
    key          VARCHAR(255) NOT NULL,
    request_hash BYTEA        NOT NULL,
    response     BYTEA        NOT NULL,  -- the answer's JSON as sent: JSONB would reorder its keys
    created_at   TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, key)
);
