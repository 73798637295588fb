"""The hot path: `GET /org-agents/{id}/prompt` answered from the live cache before Litestar routes the request.

LLM runtimes fetch the live prompt on every conversation. When the token's principal and the agent's live prompt
are both in the live cache, the answer needs no database and no framework: this sends the route's own answer
(live_prompt.py) directly. A watch (`?wait=S` with If-None-Match) is held here too, by the route's own use case
(`watch_live_prompt`): watchers re-arm all the time, and a move wakes them all at once. Anything else (a miss, no or
a malformed token, an odd path or query, a detached cache) goes to Litestar unchanged, which answers it; so does a
watch the use case refused (the agent stopped serving, say): Litestar asks again and answers the error. BENCHMARKS.md
measures what this buys over the cached route.
"""

import re
import time
from typing import Final, cast
from uuid import UUID

from litestar.types import LifeSpanSend, Send
from litestar.types.asgi_types import HTTPScope

from application.blueprints import (
    MAX_WAIT_S,
    GetLivePrompt,
    WatchLivePrompt,
    live_prompt_from_memory,
    watch_live_prompt_from_memory,
)
from application.deps import Deps
from domain.errors import DomainError
from domain.labels import NAME_PATTERN, PRODUCTION
from entrypoints.http.auth import bearer_secret
from entrypoints.http.live_prompt import ROUTE, RenderedAnswers, answer, still_current
from entrypoints.http.logs import REQUEST_ID, log_access, request_id_of
from entrypoints.metrics import FROM_MEMORY

UUID_TEXT: Final = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # as str(UUID) writes it
PROMPT_PATH: Final = re.compile(ROUTE.replace("{agent_id}", f"({UUID_TEXT})"))
LABEL_QUERY: Final = re.compile(("label=" + NAME_PATTERN.strip("^$")).encode())


WAIT_QUERY: Final = re.compile(rb"wait=([1-9][0-9]?)")


def asked(query_string: bytes) -> tuple[str, int | None] | None:
    """(label, wait) for no query (production), `label=NAME`, `wait=S`, or both in either order, NAME well-formed and
    S whole seconds from 1 to MAX_WAIT_S as the route's `wait` takes them; None for anything else (a second
    parameter, a repeated one, an encoded or bad name, another form of a number), which Litestar answers."""
    label, wait = PRODUCTION, None
    if not query_string:
        return label, wait
    if LABEL_QUERY.fullmatch(query_string):  # the runtimes' usual query: one regex, as before watches came here
        return query_string[len(b"label=") :].decode(), None
    parts = query_string.split(b"&")
    if len(parts) > 2 or len({part.partition(b"=")[0] for part in parts}) != len(parts):
        return None
    for part in parts:
        if LABEL_QUERY.fullmatch(part):
            label = part[len(b"label=") :].decode()
        elif (seconds := WAIT_QUERY.fullmatch(part)) is not None and int(seconds[1]) <= MAX_WAIT_S:
            wait = int(seconds[1])
        else:
            return None
    return label, wait


async def answer_from_memory(
    deps: Deps, rendered: RenderedAnswers, scope: HTTPScope, send: Send | LifeSpanSend
) -> bool:
    """True when the request was answered here; False (nothing sent) when Litestar must answer it."""
    if (found := PROMPT_PATH.fullmatch(scope["path"])) is None:
        return False
    if (query := asked(scope["query_string"])) is None:
        return False
    label, wait = query
    started = time.perf_counter()
    authorization = if_none_match = None
    for name, value in scope["headers"]:  # the first of each, as Litestar reads them
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"if-none-match" and if_none_match is None:
            if_none_match = value.decode("latin-1")
    secret = bearer_secret(authorization)
    if secret is None:
        return False
    agent_id = UUID(found[1])
    if wait is not None and if_none_match:
        watch = WatchLivePrompt(agent_id=agent_id, label=label, wait_s=wait)
        try:
            live = await watch_live_prompt_from_memory(deps, secret, watch, still_current(if_none_match))
        except DomainError:
            return False  # nothing sent: the route asks again and answers the error as it does
    else:
        live = live_prompt_from_memory(deps, secret, GetLivePrompt(agent_id=agent_id, label=label))
    if live is None:
        return False
    status, headers, body = answer(rendered.of(live), if_none_match)
    request_id = request_id_of(scope["headers"])
    respond = cast("Send", send)  # an HTTP scope's
    await respond({"type": "http.response.start", "status": status, "headers": [*headers, (REQUEST_ID, request_id)]})
    await respond({"type": "http.response.body", "body": body, "more_body": False})
    log_access("GET", ROUTE, status, started, request_id, from_memory=True)
    FROM_MEMORY[status] += 1  # the metrics' count (entrypoints/metrics.py): a dict increment, nothing more
    return True
