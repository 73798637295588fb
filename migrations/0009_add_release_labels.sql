-- Release labels (DESIGN.md, "Labels"): named pointers from an agent to one of its compiled versions, and the history
-- of every move. `production` is not stored here: it is org_agents.current_blueprint_id, as it always was, so the
-- seed's views and functions keep their meaning; its moves are in the history like any other label's. `latest` is
-- derived (the newest compiled version). Every change of a label is announced to the services' live caches on
-- migration 0007's channel, whoever made it.

CREATE TABLE agent_labels (
    agent_id     UUID         NOT NULL REFERENCES org_agents (id) ON DELETE CASCADE,
    name         VARCHAR(36)  NOT NULL,
    blueprint_id UUID         NOT NULL,
    protected    BOOLEAN      NOT NULL DEFAULT false,
    moved_at     TIMESTAMPTZ  NOT NULL DEFAULT now(),
    moved_by     VARCHAR(255) NOT NULL,
    PRIMARY KEY (agent_id, name),
    CONSTRAINT agent_labels_name_check
        CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,35}$' AND name NOT IN ('production', 'latest')),
    -- A label points at a version of its own agent.
    CONSTRAINT agent_labels_blueprint_fkey
        FOREIGN KEY (agent_id, blueprint_id) REFERENCES agent_blueprints (agent_id, id)
);

-- Numbered 1, 2, 3 … per label; a deletion is an entry whose blueprint_id is NULL.
CREATE TABLE agent_label_moves (
    agent_id              UUID         NOT NULL REFERENCES org_agents (id) ON DELETE CASCADE,
    name                  VARCHAR(36)  NOT NULL,
    seq                   INTEGER      NOT NULL,
    blueprint_id          UUID,
    version               INTEGER,
    previous_blueprint_id UUID,
    previous_version      INTEGER,
    moved_by              VARCHAR(255) NOT NULL,
    moved_at              TIMESTAMPTZ  NOT NULL DEFAULT now(),
    PRIMARY KEY (agent_id, name, seq),
    CONSTRAINT agent_label_moves_seq_check CHECK (seq > 0),
    CONSTRAINT agent_label_moves_blueprint_fkey
        FOREIGN KEY (agent_id, blueprint_id) REFERENCES agent_blueprints (agent_id, id),
    CONSTRAINT agent_label_moves_previous_fkey
        FOREIGN KEY (agent_id, previous_blueprint_id) REFERENCES agent_blueprints (agent_id, id)
);

-- What the label points at decides what GET /org-agents/{id}/prompt?label= answers: announced like an agent's change
-- (0007's function reads the row's agent_id).
CREATE TRIGGER agent_labels_notify_change
    AFTER INSERT OR UPDATE OR DELETE ON agent_labels
    FOR EACH ROW EXECUTE FUNCTION org_agents_notify_version();
CREATE TRIGGER agent_labels_notify_truncate
    AFTER TRUNCATE ON agent_labels
    FOR EACH STATEMENT EXECUTE FUNCTION org_agents_notify_reset();
