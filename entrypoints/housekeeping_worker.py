"""The retention worker each process of `org-agents serve` runs: application/housekeeping.py's `purge_expired` at
start and then every PURGE_EVERY_S. Purges skip rows another purge holds, so every worker of every instance may run
one; a purge cut short by a stop leaves the rest to the next."""

import asyncio
import logging
from typing import Final

from application.deps import Deps
from application.housekeeping import Retention, purge_expired

log = logging.getLogger("org_agents.housekeeping")

PURGE_EVERY_S: Final = 600.0


async def purge_forever(deps: Deps, retention: Retention, *, every_s: float = PURGE_EVERY_S) -> None:
    """Runs until cancelled."""
    while True:
        try:
            purged = await purge_expired(deps, retention)
            if purged.idempotency_keys or purged.audit_events or purged.webhook_deliveries:
                log.info("purged %d idempotency keys, %d audit events, %d webhook deliveries",
                         purged.idempotency_keys, purged.audit_events, purged.webhook_deliveries)  # fmt: skip
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # storage away, say: what is due is purged next time
            log.warning("retention purge failed: %s", exc)
        await asyncio.sleep(every_s)
