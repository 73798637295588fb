"""The webhook delivery worker each process of `org-agents serve` runs: it drives application/webhooks.py's
`deliver_due` until stopped. Claims are exclusive in storage, so any number of workers and instances share the work;
a worker stopped (or killed) mid-delivery leaves the delivery to be attempted again."""

import asyncio
import logging
from typing import Final

from application.deps import Deps
from application.ports import WebhookSender
from application.webhooks import deliver_due

log = logging.getLogger("org_agents.webhooks")

CLAIMS_AT_ONCE: Final = 2  # claims a process holds at once (each holds a pooled connection while it sends)
PER_CLAIM: Final = 8  # deliveries per claim, each to a different endpoint, sent together
LOOK_EVERY_S: Final = 1.0  # how often a worker looks for due deliveries when nobody told it of new ones
AFTER_ERROR_S: Final = 1.0


async def deliver_forever(deps: Deps, sender: WebhookSender) -> None:
    """Runs until cancelled."""

    async def claims() -> None:
        while True:
            try:
                if await deliver_due(deps, sender, limit=PER_CLAIM) == 0:
                    await deps.outbox.wait(LOOK_EVERY_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # storage away, say: the deliveries wait in the outbox; keep the worker alive
                log.warning("webhook deliveries paused: %s", exc)
                await asyncio.sleep(AFTER_ERROR_S)

    await asyncio.gather(*(claims() for _ in range(CLAIMS_AT_ONCE)))
