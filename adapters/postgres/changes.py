"""The change feed: LISTEN on the channel migration 0007's (and 0009's) triggers notify, and keep a LiveCache truthful.

One dedicated connection per process. While it listens, the cache is attached and every notice invalidates what it
names. When the connection drops (or stops answering a ping), the cache is detached at once: reads go to the
database until a new connection listens again, and the cache then starts empty (a full reload, read lazily).
"""

import asyncio
import logging
from collections.abc import Callable
from typing import Final
from uuid import UUID

import psycopg
from psycopg import sql

from application.live_cache import LiveCache

log = logging.getLogger("org_agents.changes")

CHANNEL: Final = "org_agents_changes"
APPLICATION_NAME: Final = "org-agents-changes"
# The triggers that send the notices (migration 0007); without them nothing may be cached.
NOTIFYING_TRIGGERS: Final = (
    "org_agents_notify_change",
    "agent_blueprints_notify_change",
    "agent_api_tokens_notify_change",
    "agent_labels_notify_change",  # migration 0009
)
COUNT_TRIGGERS: Final = "SELECT count(*) FROM pg_trigger WHERE tgname = ANY(%(names)s)"
LISTEN: Final = sql.SQL("LISTEN {}").format(sql.Identifier(CHANNEL))
WEBHOOKS_CHANNEL: Final = "org_agents_webhooks"  # migration 0014: webhook deliveries were queued
LISTEN_WEBHOOKS: Final = sql.SQL("LISTEN {}").format(sql.Identifier(WEBHOOKS_CHANNEL))
CONNECT_TIMEOUT_S: Final = 2


def apply_notice(cache: LiveCache, payload: str) -> None:
    """`agent:<uuid>`, `token:<uuid>`; anything else (`reset`, or a payload this version does not know) drops all."""
    kind, _, ident = payload.partition(":")
    try:
        if kind == "agent":
            cache.agent_changed(UUID(ident))
            return
        if kind == "token":
            cache.tokens_changed()
            return
    except ValueError:
        pass
    cache.reset()


async def follow_changes(
    conninfo: str,
    cache: LiveCache,
    *,
    ping_every_s: float = 1.0,
    retry_min_s: float = 0.05,
    retry_max_s: float = 2.0,
    on_webhooks: Callable[[], None] | None = None,
) -> None:
    """Runs until cancelled. A connection that fails a ping within `ping_every_s` counts as dropped. Notices that
    webhook deliveries were queued call `on_webhooks` (the delivery workers look on their own too, every second)."""
    retry_s = retry_min_s
    while True:
        try:
            conn = await psycopg.AsyncConnection.connect(
                conninfo, autocommit=True, application_name=APPLICATION_NAME, connect_timeout=CONNECT_TIMEOUT_S
            )
            async with conn:
                cursor = await conn.execute(COUNT_TRIGGERS, {"names": list(NOTIFYING_TRIGGERS)})
                found = await cursor.fetchone()
                if found is None or found[0] < len(NOTIFYING_TRIGGERS):
                    log.warning("live cache off: the change triggers (migration 0007) are missing")
                    return
                await conn.execute(LISTEN)
                if on_webhooks is not None:
                    await conn.execute(LISTEN_WEBHOOKS)
                cache.attach()
                log.info("live cache on: following changes on %s", CHANNEL)
                retry_s = retry_min_s
                while True:
                    async for notice in conn.notifies(timeout=ping_every_s):
                        if notice.channel == WEBHOOKS_CHANNEL:
                            if on_webhooks is not None:
                                on_webhooks()
                            continue
                        apply_notice(cache, notice.payload)
                    await asyncio.wait_for(conn.execute("SELECT 1"), ping_every_s)
        except (psycopg.Error, OSError, TimeoutError) as exc:
            if cache.attached:
                log.warning("live cache off until the change feed reconnects: %s", exc)
        finally:
            cache.detach()
        await asyncio.sleep(retry_s)  # back off while the database is away
        retry_s = min(retry_s * 2, retry_max_s)
