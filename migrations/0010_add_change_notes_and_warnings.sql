-- Change notes and stored warnings (DESIGN.md, "Diff, change notes, dry run"): a version may carry the note its
-- author wrote when saving it (`message`, at most 1,000 characters; part of the version, so it never changes), and a
-- compiled or failed version keeps the compiler's warnings with its outcome (`compile_warnings`, final like the rest
-- of a compiled version's outcome). Versions saved or compiled before this have neither (NULL).

ALTER TABLE agent_blueprints
    ADD COLUMN message          TEXT,
    ADD COLUMN compile_warnings JSONB,
    ADD CONSTRAINT agent_blueprints_message_check CHECK (char_length(message) <= 1000);

CREATE OR REPLACE FUNCTION agent_blueprints_keep_history() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.agent_blueprint IS DISTINCT FROM OLD.agent_blueprint
       OR NEW.version IS DISTINCT FROM OLD.version
       OR NEW.agent_id IS DISTINCT FROM OLD.agent_id
       OR NEW.created_by IS DISTINCT FROM OLD.created_by
       OR NEW.created_at IS DISTINCT FROM OLD.created_at
       OR NEW.conversation_id IS DISTINCT FROM OLD.conversation_id
       OR NEW.message IS DISTINCT FROM OLD.message THEN
        RAISE EXCEPTION 'blueprint version % is immutable; create a new version instead', OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION agent_blueprints_keep_compilation() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF OLD.compilation_status = 'compiled' AND (
           NEW.compilation_status IS DISTINCT FROM OLD.compilation_status
        OR NEW.compiled_system_prompt IS DISTINCT FROM OLD.compiled_system_prompt
        OR NEW.compiled_at IS DISTINCT FROM OLD.compiled_at
        OR NEW.compiled_by IS DISTINCT FROM OLD.compiled_by
        OR NEW.compiler_version IS DISTINCT FROM OLD.compiler_version
        OR NEW.compile_warnings IS DISTINCT FROM OLD.compile_warnings) THEN
        RAISE EXCEPTION 'blueprint version % is compiled; its compilation is final', OLD.id
            USING ERRCODE = 'object_not_in_prerequisite_state';
    END IF;
    RETURN NEW;
END
$$;
