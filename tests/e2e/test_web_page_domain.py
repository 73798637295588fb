"""What the web page is told about the domain (`/ui/domain.js`): exactly the sections, required fields and body
limits the compiler and the API use, served like the page's other scripts and kept out of the API document."""

import re
from typing import Any, Final

import msgspec
import pytest

from application.pagination import DEFAULT_LIMIT, MAX_LIMIT
from domain.agents import MAX_NAME
from domain.blueprints import MAX_CONVERSATION_ID
from domain.compiler import REQUIRED_FIELDS
from domain.document import SECTIONS, FieldType, SectionShape
from entrypoints.http.schemas import MAX_BLUEPRINT_BYTES, MAX_SMALL_BODY_BYTES
from tests.e2e.conftest import Client

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("deps", ["memory"], indirect=True)]

MODULE: Final = "/ui/domain.js"
EMBEDDED: Final = re.compile(r"^const DOMAIN = (\{$.*?^\});$", re.MULTILINE | re.DOTALL)


async def served_facts(client: Client) -> dict[str, Any]:
    response = await client.get(MODULE)
    assert response.status_code == 200, response.text
    found = EMBEDDED.search(response.text)
    assert found, response.text
    facts: dict[str, Any] = msgspec.json.decode(found.group(1))
    return facts


async def test_the_page_is_told_exactly_the_sections_required_fields_and_limits_of_the_server(client: Client) -> None:
    facts = await served_facts(client)

    served = [(s["key"], s["shape"], [(f["key"], f["type"]) for f in s["fields"]]) for s in facts["sections"]]
    assert served == [
        (section.name, section.shape.value, [(n, k.value) for n, k in section.fields]) for section in SECTIONS
    ]
    shown = [(section["key"], field) for section in facts["sections"] for field in section["fields"]]
    required = {(section, name) for section, names in REQUIRED_FIELDS.items() for name in names}
    assert {(section, field["key"]) for section, field in shown if field["required"]} == required  # none dropped
    assert facts["shapes"] == {shape.name: shape.value for shape in SectionShape}
    assert facts["types"] == {kind.name: kind.value for kind in FieldType}
    assert facts["limits"] == {
        "blueprint_bytes": MAX_BLUEPRINT_BYTES,
        "small_body_bytes": MAX_SMALL_BODY_BYTES,
        "name_chars": MAX_NAME,
        "conversation_id_chars": MAX_CONVERSATION_ID,
        "page_size": DEFAULT_LIMIT,
        "max_page_size": MAX_LIMIT,
    }


async def test_the_domain_module_is_served_like_the_page_s_other_scripts_and_is_not_in_the_api_document(
    client: Client,
) -> None:
    module, script = await client.get(MODULE), await client.get("/ui/api.js")

    assert module.status_code == script.status_code == 200
    for header in ("content-type", "cache-control", "x-content-type-options"):
        assert module.headers[header] == script.headers[header], header
    assert module.headers["content-type"].startswith("text/javascript")
    assert module.headers["cache-control"] == "no-cache"
    assert module.headers["x-content-type-options"] == "nosniff"
    assert re.search(r"^export const \{ sections: SECTIONS \} = DOMAIN;$", module.text, re.MULTILINE)
    assert "://" not in module.text  # like the hand-written files: nothing fetched from elsewhere
    paths = (await client.get("/schema/openapi.json")).json()["paths"]
    assert not [path for path in paths if path.startswith("/ui")]
