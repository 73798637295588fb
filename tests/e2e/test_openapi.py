"""The OpenAPI document a front-end developer reads: every path of the API table, how to authenticate, the shapes."""

import re
from typing import Any, Final

import pytest

from application.agents import MAX_QUERY
from application.audit import MAX_ACTOR
from application.pagination import MAX_CURSOR, MAX_LIMIT
from domain.agents import MAX_DESCRIPTION, MAX_NAME
from domain.audit import Action
from domain.blueprints import MAX_CONVERSATION_ID
from domain.labels import MAX_NAME as MAX_LABEL
from domain.labels import NAME_PATTERN
from entrypoints.http.examples import shop_buddy
from tests.e2e.conftest import ENDPOINTS, Client

pytestmark = [pytest.mark.anyio, pytest.mark.parametrize("deps", ["memory"], indirect=True)]

PUBLIC: Final = {("GET", "/health"), ("GET", "/ready"), ("POST", "/tokens/revoke")}
TABLE: Final = {e.route for e in ENDPOINTS}
# Documented, and tested outside the matrices' rows (tests/e2e/test_http_tokens.py, test_http_webhooks.py): they name
# a token or a webhook, not an agent.
WEBHOOK: Final = "/webhooks/{webhook_id}"
BESIDE_THE_TABLE: Final = {
    ("GET", "/whoami"), ("GET", "/tokens/{token_id}"), ("DELETE", "/tokens/{token_id}"),
    ("GET", WEBHOOK), ("PATCH", WEBHOOK), ("DELETE", WEBHOOK), ("POST", WEBHOOK + "/rotate-secret"),
    ("POST", WEBHOOK + "/test"), ("GET", WEBHOOK + "/deliveries"),
    ("POST", WEBHOOK + "/deliveries/{delivery_id}/retry"),
}  # fmt: skip
CREATES: Final = {
    ("POST", "/org-agents"): "AgentCreate",
    ("POST", "/org-agents/with-blueprint"): "AgentWithBlueprintCreate",
    ("POST", "/org-agents/{agent_id}/blueprints"): "VersionCreate",
}
OTHER_BODIES: Final = {
    ("POST", "/org-agents/search"): "AgentSearch",
    ("PUT", "/org-agents/{agent_id}"): "AgentUpdate",
    ("PATCH", "/org-agents/{agent_id}"): "AgentUpdate",
    ("PUT", "/org-agents/{agent_id}/labels/{name}"): "LabelMoveIn",
    ("PATCH", "/org-agents/{agent_id}/labels/{name}"): "LabelProtectIn",
    ("POST", "/tokens"): "TokenIn",
    ("POST", "/webhooks"): "WebhookIn",
    ("PATCH", "/webhooks/{webhook_id}"): "WebhookUpdate",
    ("POST", "/tokens/revoke"): "RevokeSecretIn",
}
LABEL: Final = "/org-agents/{agent_id}/labels/{name}"
PROMPT: Final = "/org-agents/{agent_id}/prompt"
TRAIL: Final = "/org-agents/audit-events"
AGENT_TRAIL: Final = "/org-agents/{agent_id}/audit-events"
HTTP_METHODS: Final = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


async def openapi(client: Client) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def operations(document: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method.upper(), path): operation
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def refs(node: object) -> set[str]:
    """Every schema name a part of the document references, however deeply."""
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(refs(value) for value in node.values()))
    if isinstance(node, list):
        return set().union(*(refs(value) for value in node))
    return set()


async def test_every_path_of_the_api_table_is_documented_with_its_methods(client: Client) -> None:
    documented = operations(await openapi(client))

    assert set(documented) >= TABLE | PUBLIC
    assert set(documented) - TABLE - PUBLIC == BESIDE_THE_TABLE
    ids = [operation["operationId"] for operation in documented.values()]
    assert len(ids) == len(set(ids))


async def test_every_api_operation_needs_the_bearer_scheme_and_public_ones_do_not(client: Client) -> None:
    document = await openapi(client)

    scheme = document["components"]["securitySchemes"]["bearer"]
    assert (scheme["type"], scheme["scheme"], scheme["bearerFormat"]) == ("http", "bearer", "oat_…")
    assert "JWT" in scheme["description"]
    for key, operation in operations(document).items():
        if key in PUBLIC:
            assert not operation.get("security"), key
        else:
            assert operation.get("security") == [{"bearer": []}], key


async def test_request_bodies_reference_our_schemas_and_errors_are_problems(client: Client) -> None:
    document = await openapi(client)
    documented = operations(document)
    schemas = document["components"]["schemas"]

    for key, name in (CREATES | OTHER_BODIES).items():
        body = documented[key]["requestBody"]
        assert body["required"] is True
        assert refs(body["content"]["application/json"]["schema"]) == {name}, key
        assert name in schemas
    for key in TABLE:
        responses = documented[key]["responses"]
        for status in ("400", "401", "403", "404", "422"):
            assert refs(responses[status]["content"]["application/problem+json"]) == {"ProblemOut"}, (key, status)
        success = next(code for code in responses if code.startswith("2"))
        assert success == str(next(e.ok for e in ENDPOINTS if e.route == key)), key
    assert refs(document) <= set(schemas)
    assert set(schemas["ProblemOut"]["properties"]) >= {"status", "title", "detail", "code", "errors"}
    assert set(schemas["AgentCreate"]["required"]) == {"name"}
    assert set(schemas["AgentWithBlueprintCreate"]["required"]) == {"name", "agent_blueprint"}


async def test_the_create_endpoints_carry_the_shop_buddy_example(client: Client) -> None:
    documented = operations(await openapi(client))

    for key in CREATES:
        schema = documented[key]["requestBody"]["content"]["application/json"]["schema"]
        (example,) = schema["examples"]
        if "agent_blueprint" in example:
            assert example["agent_blueprint"] == shop_buddy(), key
        else:
            assert example["name"] == "Shop Buddy"


async def test_list_parameters_are_documented_with_their_bounds(client: Client) -> None:
    documented = operations(await openapi(client))

    for key in [
        ("GET", "/org-agents"),
        ("GET", "/org-agents/{agent_id}/blueprints"),
        ("GET", "/org-agents/{agent_id}/compiled-blueprints"),
        ("GET", LABEL + "/history"),
        ("GET", TRAIL),
        ("GET", AGENT_TRAIL),
    ]:
        parameters = {p["name"]: p for p in documented[key]["parameters"]}
        assert (parameters["limit"]["schema"]["minimum"], parameters["limit"]["schema"]["maximum"]) == (1, 100)
        assert parameters["limit"]["in"] == parameters["cursor"]["in"] == "query"
    compile_parameters = {
        p["name"]: p
        for p in documented[("POST", "/org-agents/{agent_id}/blueprints/{version_id}/compile")]["parameters"]
    }
    assert compile_parameters["activate"]["schema"] == {"type": "boolean", "default": False}
    assert compile_parameters["version_id"]["schema"] == {"type": "string", "format": "uuid"}


async def test_the_docs_page_and_the_yaml_answer_without_a_token(client: Client) -> None:
    page = await client.get("/schema")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert re.search(r"<html", page.text, re.IGNORECASE)
    assert (await client.get("/schema/openapi.yaml")).status_code == 200


async def test_the_documents_limits_are_the_services_own(client: Client) -> None:
    document = await openapi(client)
    schemas = document["components"]["schemas"]

    def flat(found: dict[str, Any]) -> dict[str, Any]:
        """A schema with its non-null `oneOf` option's keywords beside its own (limits may sit at either level)."""
        option: dict[str, Any] = next((o for o in found.get("oneOf", []) if o.get("type") != "null"), {})
        return {**option, **found}

    def field(schema: str, name: str) -> dict[str, Any]:
        return flat(schemas[schema]["properties"][name])

    def parameter(method: str, path: str, name: str) -> dict[str, Any]:
        operation = operations(document)[(method, path)]
        return flat(next(p for p in operation["parameters"] if p["name"] == name)["schema"])

    assert field("AgentCreate", "name")["maxLength"] == MAX_NAME
    assert field("AgentCreate", "description")["maxLength"] == MAX_DESCRIPTION
    assert field("VersionCreate", "conversation_id")["maxLength"] == MAX_CONVERSATION_ID
    assert field("AgentSearch", "query")["maxLength"] == MAX_QUERY
    assert field("AgentSearch", "limit")["maximum"] == MAX_LIMIT
    assert parameter("GET", "/org-agents", "limit")["maximum"] == MAX_LIMIT
    assert parameter("GET", "/org-agents", "cursor")["maxLength"] == MAX_CURSOR
    assert parameter("GET", "/org-agents/{agent_id}/blueprints", "conversation_id")["maxLength"] == MAX_CONVERSATION_ID


async def test_the_live_prompt_documents_its_body_its_etag_and_its_304(client: Client) -> None:
    responses = operations(await openapi(client))[("GET", "/org-agents/{agent_id}/prompt")]["responses"]

    assert refs(responses["200"]) == {"LivePromptOut"}
    assert "ETag" in responses["200"]["headers"]
    assert "content" not in responses["304"]


async def test_the_label_routes_document_their_bodies_etags_examples_and_preconditions(client: Client) -> None:
    document = await openapi(client)
    documented = operations(document)

    assert refs(documented[("GET", "/org-agents/{agent_id}/labels")]["responses"]["200"]) == {"LabelsOut"}
    assert refs(documented[("GET", LABEL + "/history")]["responses"]["200"]) == {"LabelHistoryPage"}
    assert "content" not in documented[("DELETE", LABEL)]["responses"]["204"]
    for method in ("GET", "PUT", "PATCH"):
        ok = documented[(method, LABEL)]["responses"]["200"]
        assert refs(ok) == {"LabelOut"}, method
        assert "ETag" in ok["headers"], method
    for method in ("PUT", "DELETE"):
        parameters = {p["name"]: p for p in documented[(method, LABEL)]["parameters"]}
        assert parameters["If-Match"]["in"] == "header", method
        assert "412" in documented[(method, LABEL)]["responses"], method
    for method, example in (("PUT", "blueprint_id"), ("PATCH", "protected")):
        schema = documented[(method, LABEL)]["requestBody"]["content"]["application/json"]["schema"]
        (body,) = schema["examples"]
        assert set(body) == {example}, method
    name = next(p for p in documented[("GET", LABEL)]["parameters"] if p["name"] == "name")
    assert (name["in"], name["required"]) == ("path", True)
    assert NAME_PATTERN in name["description"]
    label_out = document["components"]["schemas"]["LabelOut"]["properties"]
    assert set(label_out) >= {"name", "blueprint_id", "version", "protected", "moved_at", "moved_by", "read_only"}


async def test_the_label_and_wait_query_parameters_are_documented_with_their_bounds(client: Client) -> None:
    documented = operations(await openapi(client))

    prompt = {p["name"]: p for p in documented[("GET", PROMPT)]["parameters"]}
    label = prompt["label"]["schema"]
    assert (prompt["label"]["in"], label["pattern"], label["maxLength"], label["default"]) == (
        "query", NAME_PATTERN, MAX_LABEL, "production",
    )  # fmt: skip
    assert prompt["label"]["examples"]
    wait = prompt["wait"]["schema"]
    assert (prompt["wait"]["in"], wait["minimum"], wait["maximum"]) == ("query", 1, 60)
    assert "If-None-Match" in prompt["wait"]["description"]
    compile_label = next(
        p for p in documented[("POST", "/org-agents/{agent_id}/blueprints/{version_id}/compile")]["parameters"]
        if p["name"] == "label"
    )  # fmt: skip
    assert (compile_label["in"], compile_label["schema"]["pattern"]) == ("query", NAME_PATTERN)
    assert refs(documented[("GET", PROMPT)]["responses"]["200"]) == {"LivePromptOut"}
    assert "label" in (await openapi(client))["components"]["schemas"]["LivePromptOut"]["properties"]


async def test_the_problems_say_what_labels_add_to_404_409_and_412(client: Client) -> None:
    responses = operations(await openapi(client))[("PUT", LABEL)]["responses"]

    for status in ("404", "409", "412"):
        assert "label" in responses[status]["description"], status


async def test_the_audit_routes_document_their_page_their_filters_and_examples(client: Client) -> None:
    document = await openapi(client)
    documented = operations(document)

    for key in (("GET", TRAIL), ("GET", AGENT_TRAIL)):
        assert refs(documented[key]["responses"]["200"]) == {"AuditEventPage"}, key
    filters = {p["name"]: p for p in documented[("GET", TRAIL)]["parameters"]}
    assert set(filters) == {"agent_id", "action", "actor", "since", "until", "limit", "cursor"}
    assert filters["action"]["schema"]["enum"] == [action.value for action in Action]
    assert filters["actor"]["schema"]["maxLength"] == MAX_ACTOR
    for name in ("since", "until"):
        assert {"type": "string", "format": "date-time"} in filters[name]["schema"]["oneOf"], name
        assert "time zone" in filters[name]["description"], name
    for name in ("agent_id", "action", "actor", "since", "until"):
        assert (filters[name]["in"], filters[name]["required"]) == ("query", False), name
        assert filters[name]["examples"], name
    assert {p["name"] for p in documented[("GET", AGENT_TRAIL)]["parameters"]} == {"agent_id", "limit", "cursor"}
    event = document["components"]["schemas"]["AuditEventOut"]
    assert set(event["required"]) == {"id", "occurred_at", "actor", "action", "target_id", "agent_id", "details"}
