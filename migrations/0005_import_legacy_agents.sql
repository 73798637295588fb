-- Imports every row of the legacy table kept by 0001 as an agent: same name, description, status and creator,
-- with blueprint version 1 (a draft) holding the old row's other columns (system_prompt, tools_list,
-- knowledge_list, ...) verbatim as top-level keys. A no-op when there is no legacy table or it is empty.
-- Ids are derived from the legacy ids, so the import is reproducible and 0005's down file can find what it made.

-- A legacy id as a UUID: itself when it is one, else a stable UUID derived from it.
CREATE FUNCTION org_agents_legacy_uuid(kind TEXT, legacy_id TEXT) RETURNS UUID
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN legacy_id ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' THEN legacy_id::UUID
        ELSE md5('org_agents_legacy:' || kind || ':' || coalesce(legacy_id, ''))::UUID
    END;
$$;

DO $$
BEGIN
    IF to_regclass('org_agents_legacy') IS NULL THEN
        RETURN;
    END IF;

    CREATE TEMPORARY TABLE legacy_rows ON COMMIT DROP AS
    SELECT org_agents_legacy_uuid('agent', coalesce(r ->> 'id', md5(r::TEXT)))        AS id,
           org_agents_legacy_uuid('org', coalesce(r ->> 'org_id', 'none'))           AS org_id,
           coalesce(nullif(btrim(left(r ->> 'name', 255)), ''), 'legacy agent ' || coalesce(r ->> 'id', '?')) AS name,
           r ->> 'description'                                                        AS description,
           CASE lower(coalesce(r ->> 'status', ''))
               WHEN 'active' THEN 'active'
               WHEN 'delete' THEN 'delete'
               WHEN 'deleted' THEN 'delete'
               ELSE 'deactive'
           END                                                                        AS status,
           coalesce(nullif(btrim(left(r ->> 'created_by', 255)), ''), 'legacy-import') AS created_by,
           coalesce((r ->> 'created_at')::TIMESTAMPTZ, now())                         AS created_at,
           coalesce((r ->> 'updated_at')::TIMESTAMPTZ, (r ->> 'created_at')::TIMESTAMPTZ, now()) AS updated_at,
           r - ARRAY['id', 'agent_id', 'org_id', 'name', 'description', 'status',
                     'created_by', 'created_at', 'updated_at']                       AS blueprint
    FROM (SELECT to_jsonb(l) AS r FROM org_agents_legacy l) AS legacy;

    INSERT INTO agent_organizations (id, name)
    SELECT DISTINCT org_id, org_id::TEXT FROM legacy_rows
    ON CONFLICT DO NOTHING;

    INSERT INTO org_agents (id, org_id, name, description, status, created_by, created_at, updated_at)
    SELECT id, org_id, name, description, status, created_by, created_at, updated_at FROM legacy_rows;

    INSERT INTO agent_blueprints (agent_id, version, agent_blueprint, created_by, created_at)
    SELECT id, 1, blueprint, created_by, created_at FROM legacy_rows;

    INSERT INTO agent_audit_events (org_id, actor, action, target_id, occurred_at, details)
    SELECT org_id, 'migration:0005', 'agent.import', id, now(), jsonb_build_object('source', 'org_agents_legacy')
    FROM legacy_rows;
END
$$;
