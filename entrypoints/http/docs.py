"""The API reference at `/schema`: Swagger UI from the swagger-ui-bundle package (pinned), served by this process
under a strict Content-Security-Policy, so it works offline and nothing from elsewhere runs beside it.

The page is sent sandboxed (`sandbox allow-scripts`, without `allow-same-origin`): its origin is opaque, so its
scripts cannot read the web page's storage, where the page keeps its token (`ui/static/api.js`), nor call the API
(`connect-src 'none'`; a sandboxed page's requests are cross-origin, and the API answers no CORS). That is why the
OpenAPI document is embedded in the page, as a JSON element that our own script reads, and why "Try it out" is off:
the reference describes, `curl` or a client calls. `/schema/openapi.json` and `/schema/openapi.yaml` are
Litestar's own.
"""

import html
from pathlib import Path
from typing import Any, Final

import swagger_ui_bundle  # type: ignore[import-untyped]  # no py.typed: it only names its directory
from litestar import Request, Response, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.enums import MediaType
from litestar.exceptions import NotFoundException
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.params import FromPath

DOCS_PATH: Final = "/schema"
SWAGGER_UI: Final = Path(str(swagger_ui_bundle.swagger_ui_path))  # .../vendor/swagger-ui-4.15.5
SWAGGER_UI_VERSION: Final = SWAGGER_UI.name.removeprefix("swagger-ui-")
OWN: Final = Path(__file__).parent / "docs_static"
# The package's files under their version: an upgrade changes every URL, so a year's caching is safe.
VENDOR_URL: Final = f"{DOCS_PATH}/assets/{SWAGGER_UI_VERSION}"
OWN_URL: Final = f"{DOCS_PATH}/assets"

CONTENT_SECURITY_POLICY: Final = "; ".join(
    [
        "sandbox allow-scripts",  # an opaque origin: no storage, no cookies, no same-origin access to the page
        "default-src 'none'",
        "script-src 'self'",  # the bundle and docs.js: no inline script, no eval
        "style-src 'self'",
        "img-src 'self' data:",  # the stylesheet's icons are data: URLs
        "connect-src 'none'",  # the document is embedded; nothing is fetched
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
    ]
)
# No Cross-Origin-Opener-Policy or -Resource-Policy: a sandboxed page with a COOP is a network error, and its opaque
# origin is not "same-origin" with the assets it loads. The web page opens it with noopener instead.
HEADERS: Final = {"Content-Security-Policy": CONTENT_SECURITY_POLICY}
IMMUTABLE: Final = CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True)
REVALIDATE: Final = CacheControlHeader(no_cache=True)
TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


def _read(directory: Path, names: tuple[str, ...]) -> dict[str, tuple[bytes, str]]:
    """Each file's bytes and media type, read once: a missing file fails at import, not per request."""
    return {name: ((directory / name).read_bytes(), TYPES[Path(name).suffix]) for name in names}


VENDOR: Final = _read(SWAGGER_UI, ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png"))
OWN_FILES: Final = _read(OWN, ("docs.js", "docs.css"))


def embedded_json(document: bytes) -> bytes:
    """JSON that stays one inert text node inside a `<script type="application/json">`: no `<` can close it."""
    return document.replace(b"<", b"\\u003c").replace(b">", b"\\u003e").replace(b"&", b"\\u0026")


def _answer(files: dict[str, tuple[bytes, str]], name: str, cache: CacheControlHeader) -> Response[bytes]:
    if name not in files:
        raise NotFoundException("no such file of the API reference")
    content, media_type = files[name]
    return Response(content, media_type=media_type, headers={**HEADERS, "Cache-Control": cache.to_header()})


@get(f"/assets/{SWAGGER_UI_VERSION}/{{name:str}}", include_in_schema=False, sync_to_thread=False)
def vendor_file(name: FromPath[str]) -> Response[bytes]:
    """Swagger UI's own files, as the package ships them."""
    return _answer(VENDOR, name, IMMUTABLE)


@get("/assets/{name:str}", include_in_schema=False, sync_to_thread=False)
def own_file(name: FromPath[str]) -> Response[bytes]:
    """The script that starts Swagger UI on the embedded document, and a few styles; revalidated, like the page's."""
    return _answer(OWN_FILES, name, REVALIDATE)


class ApiReference(OpenAPIRenderPlugin):
    """Swagger UI at `/schema`, with every file it needs served from here."""

    def __init__(self) -> None:
        super().__init__(path="/", favicon="", style="")

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = html.escape(f"{openapi_schema['info']['title']} API reference")
        document = embedded_json(self.render_json(request, openapi_schema))
        head = f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="icon" type="image/png" href="{VENDOR_URL}/favicon-32x32.png">
<link rel="stylesheet" href="{VENDOR_URL}/swagger-ui.css">
<link rel="stylesheet" href="{OWN_URL}/docs.css">
</head>
<body>
<noscript><p>This reference needs JavaScript. The OpenAPI document itself is at
<a href="{DOCS_PATH}/openapi.json">{DOCS_PATH}/openapi.json</a>.</p></noscript>
<div id="swagger-ui"></div>
<script type="application/json" id="openapi-document">"""
        tail = f"""</script>
<script src="{VENDOR_URL}/swagger-ui-bundle.js"></script>
<script src="{OWN_URL}/docs.js"></script>
</body>
</html>
"""
        return b"".join([head.encode(), document, tail.encode()])

    def receive_router(self, router: Router) -> None:
        router.register(vendor_file)
        router.register(own_file)


def _headers_on_the_page(response: Response[Any]) -> Response[Any]:
    """The reference's page gets the policy (the documents, JSON and YAML, are answered as Litestar answers them)."""
    if response.media_type == MediaType.HTML:
        response.headers.update(HEADERS)
        response.headers.setdefault("Cache-Control", REVALIDATE.to_header())
    return response


def docs_router() -> Router:
    """The router Litestar puts the OpenAPI routes on (`OpenAPIConfig.openapi_router`)."""
    return Router(DOCS_PATH, route_handlers=[], include_in_schema=False, after_request=_headers_on_the_page)
