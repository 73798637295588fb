-- Undoes 0017: the documents' sizes go (they are computed from the documents, so nothing is lost).
ALTER TABLE agent_blueprints DROP COLUMN blueprint_bytes;
