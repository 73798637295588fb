-- Undoes 0009: labels other than production (the agent's active version) and every label's history are dropped.
DROP TRIGGER agent_labels_notify_truncate ON agent_labels;
DROP TRIGGER agent_labels_notify_change ON agent_labels;
DROP TABLE agent_label_moves;
DROP TABLE agent_labels;
