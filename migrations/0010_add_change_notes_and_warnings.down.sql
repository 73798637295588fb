-- Undoes 0010: change notes and stored warnings are dropped; the guards are as 0002 and 0003 made them.
CREATE OR REPLACE FUNCTION agent_blueprints_keep_compilation() RETURNS trigger
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

CREATE OR REPLACE FUNCTION agent_blueprints_keep_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.agent_blueprint IS DISTINCT FROM OLD.agent_blueprint
       OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.agent_id IS DISTINCT FROM OLD.agent_id
       OR NEW.created_by IS DISTINCT FROM OLD.created_by
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.conversation_id IS DISTINCT FROM OLD.conversation_id THEN
        RAISE EXCEPTION 'blueprint version % is immutable; create a new version instead', OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END
$$;

ALTER TABLE agent_blueprints
    DROP CONSTRAINT agent_blueprints_message_check,
    DROP COLUMN compile_warnings,
    DROP COLUMN message;
