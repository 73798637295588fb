-- Undoes 0005: removes the imported agents (with every version since added to them) and the organizations the
-- import registered, when nothing else uses them. The legacy table itself is untouched.
DO $$
BEGIN
    IF to_regclass('org_agents_legacy') IS NOT NULL THEN
        CREATE TEMPORARY TABLE imported ON COMMIT DROP AS
        SELECT org_agents_legacy_uuid('agent', coalesce(r ->> 'id', md5(r::TEXT))) AS id,
               org_agents_legacy_uuid('org', coalesce(r ->> 'org_id', 'none'))    AS org_id
        FROM (SELECT to_jsonb(l) AS r FROM org_agents_legacy l) AS legacy;

        DELETE FROM agent_audit_events e USING imported i
        WHERE e.target_id = i.id AND e.action = 'agent.import';
        UPDATE org_agents a SET current_blueprint_id = NULL FROM imported i WHERE a.id = i.id;
        DELETE FROM org_agents a USING imported i WHERE a.id = i.id;
        DELETE FROM agent_organizations o
        WHERE o.id IN (SELECT org_id FROM imported)
          AND NOT EXISTS (SELECT 1 FROM org_agents a WHERE a.org_id = o.id)
          AND NOT EXISTS (SELECT 1 FROM agent_api_tokens t WHERE t.org_id = o.id)
          AND NOT EXISTS (SELECT 1 FROM agent_audit_events e WHERE e.org_id = o.id);
    END IF;
END
$$;

DROP FUNCTION org_agents_legacy_uuid(TEXT, TEXT);
