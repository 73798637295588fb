-- Quotas (domain/quotas.py): what each organization stores, counted as it is written, so that a write checks its
-- organization's quotas by summing a few rows rather than counting its agents and versions. An organization's
-- counts are spread over 64 slots by a hash of the agent written (adapters/postgres/usage.py computes the same
-- one): writers of different agents rarely update the same row, so concurrent writers of one organization do not
-- queue on one row lock. Counted: agents not deleted; every version (versions are kept); their documents' bytes.

CREATE TABLE agent_org_usage (
    org_id       UUID     NOT NULL REFERENCES agent_organizations (id),
    slot         SMALLINT NOT NULL,
    agents       BIGINT   NOT NULL DEFAULT 0,
    versions     BIGINT   NOT NULL DEFAULT 0,
    stored_bytes BIGINT   NOT NULL DEFAULT 0,
    PRIMARY KEY (org_id, slot),
    CONSTRAINT agent_org_usage_slot_check CHECK (slot >= 0 AND slot < 64)
);

-- What is already stored (the service's own rows, and those 0005 imported from the old system). The service counts
-- a document's compact JSON; here it is PostgreSQL's text of the stored jsonb, a few percent longer.
INSERT INTO agent_org_usage (org_id, slot, agents, versions, stored_bytes)
SELECT a.org_id,
       get_byte(sha256(uuid_send(a.id)), 0) % 64,
       count(*) FILTER (WHERE a.status <> 'delete'),
       COALESCE(sum(v.versions), 0),
       COALESCE(sum(v.stored_bytes), 0)
FROM org_agents a
LEFT JOIN (
    SELECT agent_id, count(*) AS versions, sum(octet_length(agent_blueprint::text)) AS stored_bytes
    FROM agent_blueprints
    GROUP BY agent_id
) v ON v.agent_id = a.id
GROUP BY 1, 2;
