-- Undoes 0018: the names' trigram index, and pg_trgm unless something else uses it (nothing is lost: an index).
DROP INDEX idx_org_agents_name_trgm;
DO $$
BEGIN
    DROP EXTENSION IF EXISTS pg_trgm;
EXCEPTION WHEN dependent_objects_still_exist THEN
    NULL;  -- another index or column of the database's needs it: it stays
END
$$;
