"""The hot path: `GET /org-agents/{id}/prompt` answered from the live cache before Litestar routes the request.

LLM runtimes fetch the live prompt on every conversation. When the token's principal and the agent's live prompt
are both in the live cache, the answer needs no database and no framework: this sends the route's own answer
(live_prompt.py) directly. Anything else (a miss, no or a malformed token, an odd path, a detached cache) goes to
Litestar unchanged, which answers it, errors included; so does a watch (`?wait=`). BENCHMARKS.md measures what this
buys over the cached route.
"""

import re
import time
from typing import Final, cast
from uuid import UUID

from litestar.types import LifeSpanSend, Send
from litestar.types.asgi_types import HTTPScope

from application.blueprints import GetLivePrompt, live_prompt_from_memory
from application.deps import Deps
from domain.labels import NAME_PATTERN, PRODUCTION
from entrypoints.http.auth import bearer_secret
from entrypoints.http.live_prompt import ROUTE, RenderedAnswers, answer
from entrypoints.http.logs import REQUEST_ID, log_access, request_id_of
from entrypoints.metrics import FROM_MEMORY

UUID_TEXT: Final = "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"  # as str(UUID) writes it
PROMPT_PATH: Final = re.compile(ROUTE.replace("{agent_id}", f"({UUID_TEXT})"))
LABEL_QUERY: Final = re.compile(("label=" + NAME_PATTERN.strip("^$")).encode())


def label_asked(query_string: bytes) -> str | None:
    """Production for no query, NAME for exactly `label=NAME` (a well-formed name); None for anything else (a watch,
    a second parameter, an encoded or bad name), which Litestar answers."""
    if not query_string:
        return PRODUCTION
    if LABEL_QUERY.fullmatch(query_string):
        return query_string[len(b"label=") :].decode()
    return None


async def answer_from_memory(
    deps: Deps, rendered: RenderedAnswers, scope: HTTPScope, send: Send | LifeSpanSend
) -> bool:
    """True when the request was answered here; False (nothing sent) when Litestar must answer it."""
    if (found := PROMPT_PATH.fullmatch(scope["path"])) is None:
        return False
    if (label := label_asked(scope["query_string"])) is None:
        return False
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
    live = live_prompt_from_memory(deps, secret, GetLivePrompt(agent_id=UUID(found[1]), label=label))
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
