-- The old system's data keeps its identity, and its SQL keeps working where that is cheap and safe:
-- 1. Every agent imported by 0005 gets its legacy agent_id back (0005 let the identity renumber them: 7 and 12 became
--    4 and 5). When two legacy rows share an agent_id (the old column was not unique) the earlier row (created_at, then
--    id) keeps it. Any other agent holding a number that is handed back (one created since 0005, or an imported one
--    whose legacy agent_id is a duplicate or no integer) is numbered after the largest, in (created_at, id) order,
--    with an agent.update audit event saying so. New agents continue after the largest number: of every agent, every
--    legacy row, and what the old table's own sequence last handed out. A legacy table without agent_id keeps 0005's
--    numbers.
-- 2. Organizations still named by their id (as 0004 and 0005 registered them) take their name from the old system's
--    `organization` table when it has one for them (trimmed, at most 255 characters). A name another organization
--    already has, or that several of them share, gets the first 8 characters of the id: "Acme (5d1f6c2a)"; if even
--    that is taken, the id stays the name. Organizations renamed since keep their names.
-- 3. active_agents_with_blueprints has the seed's blueprint_id again (= current_blueprint_id), as its last column.
-- 4. updated_at is maintained on every UPDATE of an agent, from psql too, as the seed's trigger did: now(), unless the
--    UPDATE sets updated_at itself (the service does, from its clock), which keeps what it set.
-- The old system's tables (org_agents_legacy, organization, ...) and their sequences are only read. Undoing this file
-- removes 3 and 4 and keeps the numbers and names (valid data for the files before it; 0005's numbers were arbitrary).
-- On a fresh database this runs right after 0005 and gives what it gives a database that ran 0005 long ago.

DO $$
DECLARE
    legacy_sequence TEXT;
    legacy_last     BIGINT;
    base            BIGINT;  -- the largest number that stays where it is
    last_number     BIGINT;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM pg_attribute
        WHERE attrelid = to_regclass('org_agents_legacy') AND attname = 'agent_id' AND attnum > 0 AND NOT attisdropped
    ) THEN
        RETURN;
    END IF;

    -- Each legacy row: the agent 0005 made of it (same id as 0005 derives it) and its agent_id when an INTEGER.
    CREATE TEMPORARY TABLE legacy_numbers ON COMMIT DROP AS
    SELECT org_agents_legacy_uuid('agent', coalesce(r ->> 'id', md5(r::TEXT))) AS id,
           CASE WHEN (r ->> 'agent_id') ~ '^\s*[-+]?[0-9]{1,10}\s*$' THEN
               CASE WHEN (r ->> 'agent_id')::NUMERIC BETWEEN -2147483648 AND 2147483647
                    THEN (r ->> 'agent_id')::NUMERIC::INTEGER END
           END AS number
    FROM (SELECT to_jsonb(l) AS r FROM org_agents_legacy l) AS legacy;

    -- Imported agents and the number each should have: its legacy one when it is the first row to hold it.
    CREATE TEMPORARY TABLE legacy_agents ON COMMIT DROP AS
    SELECT a.id, a.agent_id AS current,
           CASE WHEN n.number IS NOT NULL AND row_number() OVER (
                    PARTITION BY n.number ORDER BY a.created_at, a.id) = 1 THEN n.number END AS kept
    FROM legacy_numbers n JOIN org_agents a ON a.id = n.id;

    -- Who moves: imported agents without a number of their own, and any other agent holding a number handed back.
    CREATE TEMPORARY TABLE moving ON COMMIT DROP AS
    SELECT a.id, a.agent_id AS current, a.created_at,
           CASE WHEN l.id IS NULL THEN 'number given back to the legacy agent that had it'
                ELSE 'legacy agent_id missing or held by an earlier legacy row' END AS reason
    FROM org_agents a LEFT JOIN legacy_agents l ON l.id = a.id
    WHERE (l.id IS NOT NULL AND l.kept IS NULL)
       OR (l.id IS NULL AND a.agent_id IN (SELECT kept FROM legacy_agents WHERE kept IS NOT NULL));

    SELECT pg_get_serial_sequence('org_agents_legacy', 'agent_id') INTO legacy_sequence;
    IF legacy_sequence IS NOT NULL THEN
        SELECT s.last_value INTO legacy_last FROM pg_sequences s
        WHERE format('%I.%I', s.schemaname, s.sequencename)::regclass = legacy_sequence::regclass;
    END IF;
    SELECT greatest(
        (SELECT max(agent_id) FROM org_agents
         WHERE id NOT IN (SELECT id FROM moving) AND id NOT IN (SELECT id FROM legacy_agents WHERE kept IS NOT NULL)),
        (SELECT max(kept) FROM legacy_agents),
        (SELECT max(number) FROM legacy_numbers),
        legacy_last,
        0) INTO base;

    CREATE TEMPORARY TABLE renumbered ON COMMIT DROP AS
    SELECT id, current, kept AS new, 'legacy agent_id restored' AS reason FROM legacy_agents
    WHERE kept IS NOT NULL AND kept <> current
    UNION ALL
    SELECT id, current, base + row_number() OVER (ORDER BY created_at, id), reason FROM moving;
    DELETE FROM renumbered WHERE new = current;

    -- agent_id is unique at every row: park the movers on free negative numbers, then give each its own.
    UPDATE org_agents a SET agent_id = p.parked
    FROM (SELECT id, least((SELECT min(agent_id) FROM org_agents), 0) - row_number() OVER (ORDER BY id) AS parked
          FROM renumbered) p
    WHERE a.id = p.id;
    UPDATE org_agents a SET agent_id = r.new FROM renumbered r WHERE a.id = r.id;

    INSERT INTO agent_audit_events (org_id, actor, action, target_id, agent_id, occurred_at, details)
    SELECT a.org_id, 'migration:0013', 'agent.update', a.id, a.id, now(),
           jsonb_build_object('before', jsonb_build_object('agent_id', r.current),
                              'after', jsonb_build_object('agent_id', r.new),
                              'reason', r.reason)
    FROM renumbered r JOIN org_agents a ON a.id = r.id;

    -- The identity hands out the number after the largest; it never goes back.
    SELECT greatest((SELECT max(agent_id) FROM org_agents), base, s.last_value) INTO last_number
    FROM pg_sequences s
    WHERE format('%I.%I', s.schemaname, s.sequencename)::regclass
          = pg_get_serial_sequence('org_agents', 'agent_id')::regclass;
    IF last_number > 0 THEN
        PERFORM setval(pg_get_serial_sequence('org_agents', 'agent_id'), last_number);
    END IF;
END
$$;

DO $$
BEGIN
    IF to_regclass('organization') IS NULL THEN
        RETURN;
    END IF;

    -- The old name of each organization still named by its id (its id mapped as 0005 maps a legacy org_id).
    CREATE TEMPORARY TABLE legacy_names ON COMMIT DROP AS
    SELECT DISTINCT ON (ao.id) ao.id, o.name AS wanted
    FROM agent_organizations ao
    JOIN (SELECT org_agents_legacy_uuid('org', r ->> 'id') AS id, btrim(left(btrim(r ->> 'name'), 255)) AS name
          FROM (SELECT to_jsonb(x) AS r FROM organization x) AS old
          WHERE r ->> 'id' IS NOT NULL) o ON o.id = ao.id
    WHERE ao.name = ao.id::TEXT AND o.name <> ''
    ORDER BY ao.id, o.name;

    UPDATE agent_organizations ao SET name = u.name
    FROM (
        SELECT id, name, count(*) OVER (PARTITION BY name) AS sharing
        FROM (
            SELECT id,
                   CASE WHEN count(*) OVER (PARTITION BY wanted) = 1
                             AND wanted NOT IN (SELECT name FROM agent_organizations) THEN wanted
                        ELSE left(wanted, 244) || ' (' || left(id::TEXT, 8) || ')' END AS name
            FROM legacy_names
        ) AS chosen
    ) u
    WHERE ao.id = u.id AND u.sharing = 1 AND u.name NOT IN (SELECT name FROM agent_organizations);
END
$$;

-- The seed's column name for the active version, after the columns 0002 made (a view only grows at its end).
CREATE OR REPLACE VIEW active_agents_with_blueprints AS
SELECT a.id,
       a.agent_id,
       a.org_id,
       a.name,
       a.description,
       a.status,
       a.created_by,
       a.created_at,
       a.updated_at,
       a.current_blueprint_id,
       b.version         AS blueprint_version,
       b.agent_blueprint,
       b.created_by      AS blueprint_created_by,
       b.created_at      AS blueprint_created_at,
       b.conversation_id,
       b.id              AS blueprint_id
FROM org_agents a
LEFT JOIN agent_blueprints b ON b.id = a.current_blueprint_id
WHERE a.status = 'active';

-- updated_at on every UPDATE. Whether the UPDATE set updated_at itself only an "UPDATE OF updated_at" trigger can tell:
-- it notes the row for the trigger after it (triggers of one event fire in name order), which then keeps that value;
-- any other UPDATE gets now(), as the seed's update_updated_at_column() gave. The note lives until the transaction ends
-- and is cleared at once; it names the row, so a row skipped in between cannot pass it on.
CREATE FUNCTION org_agents_note_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM set_config('org_agents.updated_at_given', OLD.id::TEXT, true);
    RETURN NEW;
END
$$;

CREATE FUNCTION org_agents_touch_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF current_setting('org_agents.updated_at_given', true) IS DISTINCT FROM OLD.id::TEXT THEN
        NEW.updated_at := now();
    END IF;
    PERFORM set_config('org_agents.updated_at_given', '', true);
    RETURN NEW;
END
$$;

CREATE TRIGGER org_agents_updated_at_given
    BEFORE UPDATE OF updated_at ON org_agents
    FOR EACH ROW EXECUTE FUNCTION org_agents_note_updated_at();
CREATE TRIGGER update_org_agents_updated_at
    BEFORE UPDATE ON org_agents
    FOR EACH ROW EXECUTE FUNCTION org_agents_touch_updated_at();
