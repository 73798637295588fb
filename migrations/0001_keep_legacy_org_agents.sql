-- Step 1 of the seed ("drop old schema"), made safe: the old system's org_agents table is renamed to
-- org_agents_legacy and kept, with its rows, indexes and sequences; nothing is dropped. 0005 imports its rows.
-- A no-op on a database without that table. An org_agents table of any other shape is refused, not touched.
DO $$
DECLARE
    item record;
BEGIN
    IF to_regclass('org_agents') IS NULL THEN
        RETURN;
    END IF;
    IF NOT EXISTS (
        SELECT 1 FROM information_schema.columns
        WHERE table_schema = current_schema() AND table_name = 'org_agents' AND column_name = 'system_prompt'
    ) THEN
        RAISE EXCEPTION 'org_agents exists but is not the legacy table (it has no system_prompt column)'
            USING HINT = 'org-agents will not touch a table it does not know; rename it, or use another database.';
    END IF;
    IF to_regclass('org_agents_legacy') IS NOT NULL THEN
        RAISE EXCEPTION 'both org_agents and org_agents_legacy exist; refusing to guess which one is the legacy table';
    END IF;

    ALTER TABLE org_agents RENAME TO org_agents_legacy;
    -- Index names (the primary key's included) share the schema's namespace with the new tables' indexes.
    FOR item IN
        SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid
        WHERE x.indrelid = 'org_agents_legacy'::regclass
    LOOP
        EXECUTE format('ALTER INDEX %I RENAME TO %I', item.relname, left('legacy_' || item.relname, 63));
    END LOOP;
    FOR item IN
        SELECT s.relname FROM pg_class s JOIN pg_depend d ON d.objid = s.oid
        WHERE s.relkind = 'S' AND d.refobjid = 'org_agents_legacy'::regclass AND d.deptype IN ('a', 'i')
    LOOP
        EXECUTE format('ALTER SEQUENCE %I RENAME TO %I', item.relname, left('legacy_' || item.relname, 63));
    END LOOP;
END
$$;
