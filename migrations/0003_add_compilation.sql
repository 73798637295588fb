-- Step 3 of the seed: compilation. A human compiles a version into the system prompt an LLM runtime executes;
-- the version records the outcome, and a compiled version's outcome is final.

ALTER TABLE agent_blueprints
    ADD COLUMN compilation_status     VARCHAR(50)  NOT NULL DEFAULT 'draft',
    ADD COLUMN compiled_system_prompt TEXT,
    ADD COLUMN compiled_at            TIMESTAMPTZ,
    ADD COLUMN compiled_by            VARCHAR(255),
    ADD COLUMN compile_errors         JSONB,
    ADD COLUMN compiler_version       VARCHAR(64),
    ADD CONSTRAINT agent_blueprints_compilation_status_check
        CHECK (compilation_status IN ('draft', 'compiled', 'failed')),
    ADD CONSTRAINT agent_blueprints_compiled_has_prompt_check
        CHECK (compilation_status <> 'compiled' OR compiled_system_prompt IS NOT NULL);

-- The seed also indexed compilation_status, compiled_at and compiled_by alone; no query of the service filters on
-- them without the agent, so they would only slow every write. This one serves "compiled versions of an agent,
-- newest first" and the per-status counts of an agent.
CREATE INDEX idx_agent_blueprints_agent_compilation ON agent_blueprints (agent_id, compilation_status, version);

-- Recompiling a compiled version returns the stored result, so nothing may rewrite it.
CREATE FUNCTION agent_blueprints_keep_compilation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.compilation_status = 'compiled' AND (
           NEW.compilation_status IS DISTINCT FROM OLD.compilation_status
        OR NEW.compiled_system_prompt IS DISTINCT FROM OLD.compiled_system_prompt
        OR NEW.compiled_at IS DISTINCT FROM OLD.compiled_at
        OR NEW.compiled_by IS DISTINCT FROM OLD.compiled_by
        OR NEW.compiler_version IS DISTINCT FROM OLD.compiler_version) THEN
        RAISE EXCEPTION 'blueprint version % is compiled; its compilation is final', OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER agent_blueprints_keep_compilation
    BEFORE UPDATE ON agent_blueprints
    FOR EACH ROW EXECUTE FUNCTION agent_blueprints_keep_compilation();

CREATE VIEW compiled_agent_blueprints AS
SELECT id,
       agent_id,
       version,
       agent_blueprint,
       compiled_system_prompt,
       compiled_at,
       compiled_by,
       compiler_version,
       created_at,
       created_by,
       conversation_id
FROM agent_blueprints
WHERE compilation_status = 'compiled';

CREATE VIEW agents_with_compiled_blueprints AS
SELECT a.id,
       a.agent_id,
       a.org_id,
       a.name,
       a.description,
       a.status,
       a.created_by,
       a.created_at,
       a.updated_at,
       b.id              AS blueprint_id,
       b.version         AS blueprint_version,
       b.agent_blueprint,
       b.compiled_system_prompt,
       b.compiled_at,
       b.compiled_by,
       b.conversation_id
FROM org_agents a
LEFT JOIN agent_blueprints b ON b.id = a.current_blueprint_id
WHERE a.status <> 'delete' AND (b.compilation_status = 'compiled' OR b.compilation_status IS NULL);

-- Records a successful compilation. False when the version does not exist or is already compiled (whose stored
-- prompt stands).
CREATE FUNCTION update_blueprint_compilation(
    blueprint_uuid  UUID,
    compiled_prompt TEXT,
    compiler_id     VARCHAR(255),
    compiler_ver    VARCHAR(64) DEFAULT NULL
) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agent_blueprints
    SET compiled_system_prompt = compiled_prompt,
        compiled_at = now(),
        compiled_by = compiler_id,
        compile_errors = NULL,
        compiler_version = compiler_ver,
        compilation_status = 'compiled'
    WHERE id = blueprint_uuid AND compilation_status <> 'compiled';
    RETURN FOUND;
END
$$;

-- Records a failed compilation with its violations. False when the version does not exist or is compiled.
CREATE FUNCTION mark_compilation_failed(
    blueprint_uuid UUID,
    compiler_id    VARCHAR(255),
    errors         JSONB DEFAULT NULL,
    compiler_ver   VARCHAR(64) DEFAULT NULL
) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE agent_blueprints
    SET compiled_system_prompt = NULL,
        compiled_at = now(),
        compiled_by = compiler_id,
        compile_errors = errors,
        compiler_version = compiler_ver,
        compilation_status = 'failed'
    WHERE id = blueprint_uuid AND compilation_status <> 'compiled';
    RETURN FOUND;
END
$$;

-- Counts of an organization's versions by compilation status; deleted agents are not counted.
CREATE FUNCTION get_org_compilation_stats(org_uuid UUID)
RETURNS TABLE (
    total_blueprints    BIGINT,
    compiled_blueprints BIGINT,
    draft_blueprints    BIGINT,
    failed_blueprints   BIGINT,
    compilation_rate    NUMERIC
)
LANGUAGE sql STABLE AS $$
    SELECT count(*),
           count(*) FILTER (WHERE b.compilation_status = 'compiled'),
           count(*) FILTER (WHERE b.compilation_status = 'draft'),
           count(*) FILTER (WHERE b.compilation_status = 'failed'),
           round(count(*) FILTER (WHERE b.compilation_status = 'compiled')::NUMERIC / NULLIF(count(*), 0) * 100, 2)
    FROM agent_blueprints b
    JOIN org_agents a ON a.id = b.agent_id
    WHERE a.org_id = org_uuid AND a.status <> 'delete';
$$;
