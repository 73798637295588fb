-- Undoes 0013: no more updated_at trigger, and active_agents_with_blueprints is 0002's again (without blueprint_id).
-- The agent numbers and organization names it restored stay, with their audit events: they are valid data for the
-- files before it, and the numbers 0005 had given were arbitrary. Doing 0013 again then changes nothing more.
DROP TRIGGER update_org_agents_updated_at ON org_agents;
DROP TRIGGER org_agents_updated_at_given ON org_agents;
DROP FUNCTION org_agents_touch_updated_at();
DROP FUNCTION org_agents_note_updated_at();

DROP VIEW active_agents_with_blueprints;
CREATE VIEW active_agents_with_blueprints AS
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
       b.conversation_id
FROM org_agents a
LEFT JOIN agent_blueprints b ON b.id = a.current_blueprint_id
WHERE a.status = 'active';
