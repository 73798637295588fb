"""What `serve`'s metrics listener asks PostgreSQL at each scrape: the webhook deliveries waiting to be sent."""

from typing import Final, NamedTuple

import psycopg

APPLICATION_NAME: Final = "org-agents-metrics"
# Both counts read the partial index of pending deliveries (migration 0014), however long the delivery log grows.
COUNT_PENDING_DELIVERIES: Final = """
    SELECT count(*) AS pending, count(*) FILTER (WHERE next_attempt_at <= now()) AS due
    FROM webhook_deliveries WHERE status = 'pending'
"""


class WebhookBacklog(NamedTuple):
    pending: int  # not yet delivered nor given up on
    due: int  # of them, those whose attempt is due now (the rest wait out a retry's backoff)


def webhook_backlog(conninfo: str, timeout_s: float) -> WebhookBacklog:
    """One short connection, bounded by `timeout_s` to connect and again to answer; raises psycopg.Error."""
    options = f"-c statement_timeout={round(timeout_s * 1000)}"
    with psycopg.connect(
        conninfo, connect_timeout=max(1, round(timeout_s)), application_name=APPLICATION_NAME, options=options,
        autocommit=True,
    ) as conn:  # fmt: skip
        row = conn.execute(COUNT_PENDING_DELIVERIES).fetchone()
    return WebhookBacklog(0, 0) if row is None else WebhookBacklog(int(row[0]), int(row[1]))
