-- Undoes 0014: drops every webhook endpoint, event and delivery.
DROP TRIGGER webhook_deliveries_notify_sooner ON webhook_deliveries;
DROP TRIGGER webhook_deliveries_notify ON webhook_deliveries;
DROP FUNCTION org_agents_notify_webhooks();
DROP TABLE webhook_deliveries;
DROP TABLE webhook_events;
DROP TABLE webhook_endpoints;
