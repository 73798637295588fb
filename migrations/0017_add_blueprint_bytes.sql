-- Version lists carry summaries, not documents (DESIGN.md, GET …/blueprints): each summary says how large its
-- document is without reading it. PostgreSQL computes the size once, when the row is written (a version's document
-- never changes): the bytes of the document's text form, as `agent_blueprint::text` gives it. Adding the column
-- rewrites agent_blueprints once, under an exclusive lock, as this migration runs.

ALTER TABLE agent_blueprints
    ADD COLUMN blueprint_bytes INTEGER GENERATED ALWAYS AS (octet_length(agent_blueprint::text)) STORED;
