-- Undoes 0001: the kept legacy table gets its old name, indexes and sequences back.
DO $$
DECLARE
    item record;
BEGIN
    IF to_regclass('org_agents_legacy') IS NULL THEN
        RETURN;
    END IF;
    IF to_regclass('org_agents') IS NOT NULL THEN
        RAISE EXCEPTION 'org_agents exists; undo the later migrations first';
    END IF;

    ALTER TABLE org_agents_legacy RENAME TO org_agents;
    FOR item IN
        SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = 'org_agents'::regclass AND i.relname LIKE 'legacy\_%'
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', item.relname, substr(item.relname, 8));
    END LOOP;
    FOR item IN
        SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid
        WHERE s.relkind = 'S' AND d.refobjid = 'org_agents'::regclass AND d.deptype IN ('a', 'i')
          AND s.relname LIKE 'legacy\_%'
    LOOP
        EXECUTE format('ALTER SEQUENCE %I RENAME TO %I', item.relname, substr(item.relname, 8));
    END LOOP;
END
$$;
