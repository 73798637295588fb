"""The web page for people: one HTML file and its hand-written CSS and JavaScript, served by the API's own process.

The page is one more client of the JSON API (`fetch` with the bearer token a person pastes); nothing here reads or
writes data. None of these routes is part of the API, so none is in the OpenAPI document.
"""

from pathlib import Path
from typing import Final

from litestar import Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.static_files import create_static_files_router

STATIC: Final = Path(__file__).parent / "static"
INDEX: Final = (STATIC / "index.html").read_bytes()  # read once: a missing file fails at import, not per request

# The page runs only its own scripts and styles and talks only to this origin; forms never submit by themselves
# (the token field has no name and the page handles every submit), so a token can never land in a URL.
CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "connect-src 'self'",
        "img-src 'self' data:",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
PAGE_HEADERS: Final = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
REVALIDATE: Final = CacheControlHeader(no_cache=True)  # small files: always revalidated, so an upgrade shows at once


@get("/", include_in_schema=False, sync_to_thread=False, cache_control=REVALIDATE)
def index() -> Response[bytes]:
    """The page; it routes itself after the `#` (`#/agents/<id>`), so this is its only HTML address."""
    return Response(INDEX, media_type=MediaType.HTML, headers=PAGE_HEADERS)


def _nosniff(response: Response[object]) -> Response[object]:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


assets = create_static_files_router(
    path="/ui",
    directories=[STATIC],
    name="ui",
    include_in_schema=False,
    cache_control=REVALIDATE,
    after_request=_nosniff,
)

ui = Router(path="/", route_handlers=[index, assets], include_in_schema=False)
