-- Undoes 0003: drops compilation support, and with it every recorded compilation.
DROP FUNCTION get_org_compilation_stats(UUID);
DROP FUNCTION mark_compilation_failed(UUID, VARCHAR, JSONB, VARCHAR);
DROP FUNCTION update_blueprint_compilation(UUID, TEXT, VARCHAR, VARCHAR);
DROP VIEW agents_with_compiled_blueprints;
DROP VIEW compiled_agent_blueprints;
DROP TRIGGER agent_blueprints_keep_compilation ON agent_blueprints;
DROP FUNCTION agent_blueprints_keep_compilation();
DROP INDEX idx_agent_blueprints_agent_compilation;
ALTER TABLE agent_blueprints
    DROP CONSTRAINT agent_blueprints_compiled_has_prompt_check,
    DROP CONSTRAINT agent_blueprints_compilation_status_check,
    DROP COLUMN compiler_version,
    DROP COLUMN compile_errors,
    DROP COLUMN compiled_by,
    DROP COLUMN compiled_at,
    DROP COLUMN compiled_system_prompt,
    DROP COLUMN compilation_status;
