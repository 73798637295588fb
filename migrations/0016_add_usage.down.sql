-- Undoes 0016: the usage counts (nothing else was changed; 0016 made them from the stored rows).
DROP TABLE agent_org_usage;
