-- Webhooks (DESIGN.md, "Webhooks"): an organization's endpoints, the events they are told of, and one delivery per
-- event and endpoint. Events and deliveries are written in the transaction of the change they report (an outbox), so
-- a rolled-back change sends nothing and a committed one is delivered whatever crashes afterwards. The running
-- service claims due deliveries with FOR UPDATE SKIP LOCKED: each is attempted by one worker at a time.

CREATE TABLE webhook_endpoints (
    id                    UUID          PRIMARY KEY,
    org_id                UUID          NOT NULL REFERENCES agent_organizations (id),
    url                   VARCHAR(2048) NOT NULL,
    events                TEXT[]        NOT NULL,
    description           VARCHAR(255),
    enabled               BOOLEAN       NOT NULL DEFAULT true,
    secret                TEXT          NOT NULL,  -- whsec_…: the HMAC key itself, needed to sign
    previous_secret       TEXT,
    previous_secret_until TIMESTAMPTZ,
    failing_since         TIMESTAMPTZ,
    disabled_reason       TEXT,
    created_at            TIMESTAMPTZ   NOT NULL,
    updated_at            TIMESTAMPTZ   NOT NULL,
    CONSTRAINT webhook_endpoints_events_check CHECK (cardinality(events) > 0)
);
-- GET /webhooks pages newest first by (created_at, id); a change fans out to the organization's enabled endpoints.
CREATE INDEX webhook_endpoints_org_idx ON webhook_endpoints (org_id, created_at, id);

CREATE TABLE webhook_events (
    id          UUID        PRIMARY KEY,  -- the audit event's id, or a test event's own
    org_id      UUID        NOT NULL REFERENCES agent_organizations (id),
    type        VARCHAR(64) NOT NULL,
    occurred_at TIMESTAMPTZ NOT NULL,
    body        BYTEA       NOT NULL  -- the request body, fixed once: every attempt sends the same bytes
);

CREATE TABLE webhook_deliveries (
    id               UUID        PRIMARY KEY,
    seq              BIGINT      GENERATED ALWAYS AS IDENTITY,
    endpoint_id      UUID        NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    event_id         UUID        NOT NULL REFERENCES webhook_events (id),
    event_type       VARCHAR(64) NOT NULL,
    status           VARCHAR(16) NOT NULL DEFAULT 'pending',
    attempts         INTEGER     NOT NULL DEFAULT 0,
    next_attempt_at  TIMESTAMPTZ,
    last_attempt_at  TIMESTAMPTZ,
    last_status_code INTEGER,
    last_error       TEXT,
    last_response    TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    delivered_at     TIMESTAMPTZ,
    CONSTRAINT webhook_deliveries_status_check CHECK (status IN ('pending', 'delivered', 'failed')),
    CONSTRAINT webhook_deliveries_due_check CHECK ((status = 'pending') = (next_attempt_at IS NOT NULL)),
    CONSTRAINT webhook_deliveries_once UNIQUE (endpoint_id, event_id)
);
-- The delivery log, newest first; the next one of an endpoint (its oldest pending delivery).
CREATE INDEX webhook_deliveries_endpoint_idx ON webhook_deliveries (endpoint_id, seq);
-- What is due: only pending deliveries are in it, however long the log grows.
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_pending_idx ON webhook_deliveries (endpoint_id, seq) WHERE status = 'pending';

-- Wake the services' delivery workers when deliveries are queued or made due sooner (a retry by hand, an endpoint
-- answering again); PostgreSQL sends one notice per transaction. The workers also look every second.
CREATE FUNCTION org_agents_notify_webhooks() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('org_agents_webhooks', '');
    RETURN NULL;
END;
$$;
CREATE TRIGGER webhook_deliveries_notify
    AFTER INSERT ON webhook_deliveries
    FOR EACH ROW EXECUTE FUNCTION org_agents_notify_webhooks();
CREATE TRIGGER webhook_deliveries_notify_sooner
    AFTER UPDATE OF next_attempt_at ON webhook_deliveries
    FOR EACH ROW
    WHEN (NEW.status = 'pending' AND (OLD.status <> 'pending' OR NEW.next_attempt_at < OLD.next_attempt_at))
    EXECUTE FUNCTION org_agents_notify_webhooks();
