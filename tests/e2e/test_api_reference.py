"""The API reference at /schema (issue 20, item 2): Swagger UI from the pinned package, every file of it served here
under a strict, sandboxing Content-Security-Policy, no address of elsewhere in what the page loads, and the OpenAPI
document embedded as inert JSON, the very document /schema/openapi.json answers."""

import hashlib
import re
from html.parser import HTMLParser
from typing import Final

import msgspec
import pytest

from entrypoints.http.docs import OWN, SWAGGER_UI, SWAGGER_UI_VERSION
from tests.e2e.conftest import Client, assert_problem

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("deps", ["memory"], indirect=True)]

# The files as npm's swagger-ui-dist publishes them (the package is a Python repackaging of that release): an
# upgrade of the pin must check its files against that release's and state their digests here.
SWAGGER_UI_DIST: Final = {
    "5.31.0": {
        "swagger-ui-bundle.js": "93b7b0862a80e2786f85b560be7693c2344354ffa7e7e224f850a54349724c31",
        "swagger-ui.css": "9e576f8322132c76949da47f9bb53c891373c303ea3a761ff548ffc9de50a98c",
        "favicon-32x32.png": "3ed612f41e050ca5e7000cad6f1cbe7e7da39f65fca99c02e99e6591056e5837",
    }
}
TYPES: Final = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}
URL: Final = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


class Page(HTMLParser):
    """What the page loads (a link's href, a script's src), where it links to, and its script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._in_script: dict[str, str | None] | None = None
        self._text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag in ("link", "script") and (url := found.get("href") or found.get("src")):
            self.loads.append(url)
        if tag == "a" and (url := found.get("href")):
            self.links.append(url)
        if tag == "script":
            self._in_script, self._text = found, []

    def handle_data(self, data: str) -> None:
        if self._in_script is not None:
            self._text.append(data)

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._in_script is not None:
            self.scripts.append((self._in_script, "".join(self._text)))
            self._in_script = None


def directives(policy: str) -> dict[str, list[str]]:
    return {name: values for name, *values in (part.split() for part in policy.split(";"))}


def assert_policed(policy: str | None) -> None:
    assert policy is not None
    found = directives(policy)
    assert found["sandbox"] == ["allow-scripts"]  # no allow-same-origin: an opaque origin, no storage to read
    assert found["default-src"] == ["'none'"]
    assert found["script-src"] == ["'self'"]  # no inline script, no eval, no other origin
    assert found["connect-src"] == ["'none'"]
    assert found["frame-ancestors"] == ["'none'"]
    sources = {value for name, values in found.items() if name != "sandbox" for value in values}
    assert sources <= {"'self'", "'none'", "data:"}, sources


async def test_the_page_loads_only_files_of_this_server_under_a_sandboxing_policy(client: Client) -> None:
    response = await client.get("/schema")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_policed(response.headers.get("content-security-policy"))
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"

    page = Page()
    page.feed(response.text)
    assert page.loads
    assert all(url.startswith("/schema/assets/") for url in page.loads), page.loads
    assert page.links == ["/schema/openapi.json"]  # for a browser without scripts
    inline = [(attrs, text) for attrs, text in page.scripts if "src" not in attrs]
    assert [attrs.get("type") for attrs, _ in inline] == ["application/json"]  # data, never run
    document = (await client.get("/schema/openapi.json")).json()
    assert msgspec.json.decode(inline[0][1]) == document
    outside = response.text.replace(inline[0][1], "")
    assert not URL.findall(outside), outside  # the document's own examples aside, no address of elsewhere

    for url in page.loads:
        asset = await client.get(url)
        assert asset.status_code == 200, url
        assert_policed(asset.headers.get("content-security-policy"))
        assert asset.headers["x-content-type-options"] == "nosniff"
        assert asset.headers["content-type"].split(";")[0] == TYPES[url[url.rindex(".") :]], url
        if url.startswith(f"/schema/assets/{SWAGGER_UI_VERSION}/"):  # pinned: its address changes with the pin
            assert asset.headers["cache-control"] == "max-age=31536000, public, immutable"
        else:
            assert asset.headers["cache-control"] == "no-cache"


async def test_the_files_are_the_pinned_release_s_and_load_nothing_from_elsewhere(client: Client) -> None:
    digests = SWAGGER_UI_DIST[SWAGGER_UI_VERSION]
    for name, digest in digests.items():
        served = await client.get(f"/schema/assets/{SWAGGER_UI_VERSION}/{name}")
        assert served.content == (SWAGGER_UI / name).read_bytes()
        assert hashlib.sha256(served.content).hexdigest() == digest, name

    stylesheet = (await client.get(f"/schema/assets/{SWAGGER_UI_VERSION}/swagger-ui.css")).text
    assert re.findall(r"url\(([^)]*)\)", stylesheet)
    assert all(re.match(r"""["']?data:""", url) for url in re.findall(r"url\(([^)]*)\)", stylesheet))
    assert "@import" not in stylesheet
    for name in ("docs.js", "docs.css"):
        own = await client.get(f"/schema/assets/{name}")
        assert own.content == (OWN / name).read_bytes()
        assert not URL.findall(own.text), name
    script = (await client.get("/schema/assets/docs.js")).text
    assert "validatorUrl: null" in script  # Swagger UI's default badge would call a remote validator
    assert "supportedSubmitMethods: []" in script  # no "Try it out": the page cannot call the API


async def test_the_documents_are_answered_as_before_and_unknown_files_are_plain_404s(client: Client) -> None:
    for path in ("/schema/openapi.json", "/schema/openapi.yaml"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "content-security-policy" not in response.headers
    assert response.headers["content-type"] == "application/vnd.oai.openapi"
    for path in ("/schema/redoc", "/schema/swagger", "/schema/elements", "/schema/rapidoc"):  # they loaded CDN scripts
        gone = await client.get(path)
        assert gone.status_code == 404, path
        assert not URL.findall(gone.text), path
    for path in ("/schema/assets/nothing.js", f"/schema/assets/{SWAGGER_UI_VERSION}/index.html", "/schema/assets/x"):
        body = assert_problem(await client.get(path), 404)
        assert "nothing" not in body["detail"]
        assert "index" not in body["detail"]
