-- Search (POST /org-agents/search) finds the agents whose name contains the query, ignoring case: an ILIKE
-- '%query%' that no B-tree can answer, so an organization's search read every one of its agents (a sequential scan
-- of org_agents past a few thousand: ~40 ms for 100,000, BENCHMARKS.md "How cost grows"). A trigram index answers
-- ILIKE for a query of 3 characters or more with the rows that may match; shorter ones walk the organization's
-- agents newest first, as before. pg_trgm ships with PostgreSQL (contrib) and is a trusted extension: the
-- database's owner may create it without being a superuser.

CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE INDEX idx_org_agents_name_trgm ON org_agents USING gin (name gin_trgm_ops);
