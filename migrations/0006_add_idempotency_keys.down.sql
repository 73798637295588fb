-- Undoes 0006: forgets every idempotency key (retries after this create anew).
DROP TABLE agent_idempotency_keys;
