"""An outside client: Schemathesis reads the service's own OpenAPI document and sends generated requests to every
operation (its examples, boundary and malformed "coverage" cases, then random valid and invalid ones) with a valid
owner's key, and every check it has (`--checks all`: a test below says so): the answer is never a 5xx; its status
code, content type, headers and body are the ones the document declares; a request that violates the document is
refused with a 4xx and one that is valid is accepted; a missing required header or a method the path lacks is
refused (405 with `Allow`), OPTIONS lists exactly the path's methods; the same request without the key, or with a
wrong one, is 401. Then its stateful phase: scenarios of calls linked by what one answer gives the next (the links
Schemathesis infers from the document), where what was just created is found and what was deleted is gone.

Where the document states a refusal that no JSON Schema can (a stale If-Match, a cursor this list did not issue, a
secret's checksum, …), `refused_for_what_no_schema_states` names it exactly; every other refusal of a valid request
fails.

The app runs in process on the memory adapter. Generated path ids are mostly unknown (404), so each operation also
gets its own live agent (version 1 compiled and active, version 2 a draft, label `staging` on version 1) whose ids,
label names and version ids (in a label's move) replace the generated ones in some cases: the success answers are
checked too. Generation is derandomized, so a run is reproducible.

The schema is loaded when the module is imported, since its operations are the test's parameters; that costs a few
milliseconds and starts nothing but the in-process app. Each operation runs what Schemathesis's own
`schema.parametrize()` runs for it (that decorator cannot be used as is: on pytest 9 it gives every operation the
same test id).
"""

import asyncio
import re
import tempfile
import uuid
from pathlib import Path
from typing import Any, Final, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import CHECKS as REGISTRY
from schemathesis.checks import CheckContext, not_a_server_error
from schemathesis.config._auth import AuthConfig
from schemathesis.core.result import Ok
from schemathesis.core.transport import Response
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.openapi.checks import UseAfterFree
from schemathesis.pytest._test_builder import build_operation_test  # what `schema.parametrize()` runs per operation
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi import checks as openapi_checks
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ensure_resource_availability,
    ignored_auth,
    missing_required_header,
    negative_data_rejection,
    object_level_authorization,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from application.tokens import CreateToken, create_token
from domain.agents import NO_NUL
from domain.labels import LATEST, NAME_PATTERN
from domain.roles import Role
from domain.tokens import BODY_LENGTH, CHECKSUM_LENGTH, SECRET_PREFIX
from entrypoints.bootstrap import memory_deps
from entrypoints.http.app import create_app
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings

pytestmark = pytest.mark.slow

MAX_EXAMPLES: Final = 20  # random cases per operation, on top of its examples and coverage cases (CI time: README)
SCENARIOS: Final = 20  # stateful: sequences of linked calls (CI time)
STEPS: Final = 15  # at most, in each


def refused_for_what_no_schema_states(case: schemathesis.Case[Any], response: Response) -> bool:
    """The refusals of a request valid under the document that the document states but no JSON Schema can: each
    depends on the service's state or on a relation a pattern cannot express, and each is named exactly (status,
    `code`, field), so any other refusal of a valid request still fails."""
    if response.status_code not in (400, 412, 422):
        return False
    problem = response.json()
    fields = {error["field"] for error in problem.get("errors") or []}
    headers = {name.lower() for name in case.headers or {}}
    query = case.query or {}
    body = case.body if isinstance(case.body, dict) else {}
    operation = case.operation.definition.raw.get("operationId")
    return (
        # If-Match names an ETag the agent or label no longer has, or If-None-Match: * and the label exists.
        (response.status_code == 412 and bool(headers & {"if-match", "if-none-match"}))
        # The same Idempotency-Key with another body (the draft standard's 422).
        or (problem.get("code") == "IdempotencyKeyReused" and "idempotency-key" in headers)
        # A cursor of the documented shape that this list did not issue (cursors are opaque; only next_cursor works).
        or (response.status_code == 400 and fields == {"cursor"} and "cursor" in query)
        # The long form of a secret ends in a checksum of the rest.
        or (
            operation == "revokeTokenBySecret"
            and fields == {"secret"}
            and len(str(body.get("secret"))) == len(SECRET_PREFIX) + BODY_LENGTH + CHECKSUM_LENGTH
        )
        # The blueprint is free-form JSON: that no key or string in it holds U+0000 (nor nests too deep, nor has too
        # many items) is said in its description, not as a schema (one would have to recurse through any JSON).
        or (
            problem.get("code") == "InvalidBlueprint"
            and "agent_blueprint" in body
            and all(is_storage_violation(error["message"]) for error in problem.get("errors") or [{"message": ""}])
        )
        # Whether a literal address in a webhook's URL is public (a loopback, private or link-local one is refused),
        # and whether a host whose last label is a number is an address (domain/webhooks.py reads 127.1 and 0x7f.1
        # as resolvers do): the document says both in words.
        or (
            fields == {"url"}
            and any(
                reason in str(problem.get("errors"))
                for reason in ("loopback, private or link-local", "a name, or an address written in full")
            )
        )
        # In the stateful phase a link may bring `latest` from a list of labels to a route that writes one, which the
        # document refuses (its `name` is `not: latest`): not a valid request, though the link makes it "positive".
        or (
            problem.get("code") == "InvalidLabel"
            and (case.path_parameters or {}).get("name") == LATEST
            and case.operation.label not in READS_LATEST
        )
        # The trail's `since` after its `until`: a relation between two parameters.
        or (
            operation == "listAuditEvents"
            and fields == {"since"}
            and "must not be after until" in str(problem.get("errors"))
            and {"since", "until"} <= query.keys()
        )
        # A token's expiry must be in the future: a relation to the clock.
        or (operation == "createToken" and fields == {"expires_at"} and "in the future" in str(problem.get("errors")))
        # `?activate=true` moves production, so another `?label=` is one label too many.
        or (
            operation == "compileBlueprint"
            and response.status_code == 400
            and fields == {"label"}
            and str(query.get("activate")).lower() == "true"
            and "label" in query
        )
    )


def is_storage_violation(message: str) -> bool:
    """What domain/blueprints.py's storage_violations says of a free-form part of a blueprint."""
    return message == NO_NUL or message.startswith(("nested deeper than", "at most"))


def positive_data_acceptance(ctx: CheckContext, response: Response, case: schemathesis.Case[Any]) -> bool | None:
    """Schemathesis's check that a valid request is accepted, but for the refusals above."""
    if refused_for_what_no_schema_states(case, response):
        return None
    return openapi_checks.positive_data_acceptance(ctx, response, case)


# DELETE is a soft delete for these, as the document says: the agent stays readable (frozen, `deleted`), and so do
# its versions and labels; a revoked token stays readable with its `revoked_at`.
SOFT_DELETES: Final = {"DELETE /org-agents/{agent_id}", "DELETE /tokens/{token_id}"}


def use_after_free(ctx: CheckContext, response: Response, case: schemathesis.Case[Any]) -> bool | None:
    """Schemathesis's check that what was deleted is gone (404), but for the soft deletes above."""
    try:
        return openapi_checks.use_after_free(ctx, response, case)
    except UseAfterFree as failure:
        if failure.operation in SOFT_DELETES:
            return None
        raise


CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    missing_required_header,
    unsupported_method,
    allow_header_conformance,
    use_after_free,
    ensure_resource_availability,
    ignored_auth,
    object_level_authorization,
]

DEPS: Final = memory_deps()
# Failed authentications are limited per client address (entrypoints/http/limits.py, its own tests): here every
# request comes from one address and ignored_auth sends some without credentials on purpose, so the limit is off.
APP: Final = create_app(
    Settings(database_url=None, data_dir=Path(tempfile.gettempdir()), auth_failure_limit=None),
    DEPS,  # unused dir
)
OWNER: Final = asyncio.run(create_token(DEPS, CreateToken(org_name="acme", user_id="acme-owner", role=Role.OWNER)))
AUTHORIZATION: Final = {"Authorization": f"Bearer {OWNER.secret}"}

schema = schemathesis.openapi.from_asgi("/schema/openapi.json", APP)
# The owner's key as the document's `bearer` scheme: sent where an operation declares it, and known to be the one
# credential, so ignored_auth can send the same request without it and with a wrong one (each must be 401).
schema.config.auth = AuthConfig(openapi={"bearer": {"bearer": OWNER.secret}})
# Unknown query parameters are ignored, as the document allows; they are not an invalid request.
schema.config.generation.update(allow_extra_parameters=False)
# A body over the size limit is refused before it is read: 413 is a rejection too.
REJECTION: Final = schema.config.checks.negative_data_rejection
REJECTION.expected_statuses = [*REJECTION.expected_statuses, "413"]

SEEDED: Final[dict[str, list[dict[str, str]]]] = {}
LABELS: Final = ("staging", "production", LATEST)  # what the seeded agent has
READS_LATEST: Final = {"GET /org-agents/{agent_id}/labels/{name}"}  # the other label routes write (`latest`: 422)


def seed() -> list[dict[str, str]]:
    """A live agent, with its compiled and active version 1 (`staging` on it too) and its draft version 2: their
    path ids."""
    with get_client(cast("Any", APP)) as client:  # Litestar's ASGI types are narrower than its own
        client.headers.update(AUTHORIZATION)
        made = client.post("/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()})
        assert made.status_code == 201, made.text
        agent_id, v1 = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        compiled = client.post(f"/org-agents/{agent_id}/blueprints/{v1}/compile", params={"activate": "true"})
        assert compiled.status_code == 200, compiled.text
        v2 = client.post(f"/org-agents/{agent_id}/blueprints", json={"agent_blueprint": shop_buddy()})
        assert v2.status_code == 201, v2.text
        staging = client.put(f"/org-agents/{agent_id}/labels/staging", json={"blueprint_id": v1})
        assert staging.status_code == 200, staging.text
    return [{"agent_id": agent_id, "version_id": version} for version in (v1, v2.json()["id"])]


def seeded(context: schemathesis.HookContext) -> list[dict[str, str]]:
    """The operation's own live agent, made on first use."""
    assert context.operation is not None
    if context.operation.label not in SEEDED:
        SEEDED[context.operation.label] = seed()
    return SEEDED[context.operation.label]


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


@schema.hook("flatmap_path_parameters")
def live_ids_too(context: schemathesis.HookContext, path_parameters: dict[str, Any] | None) -> st.SearchStrategy[Any]:
    """Generated ids, or the ids of the operation's own live agent and its versions (and its labels' names). Only
    valid values are replaced, so a request generated to be invalid stays invalid."""
    if not path_parameters:
        return st.just(path_parameters)
    ids = {key: value for key, value in path_parameters.items() if key != "name"}
    name = path_parameters.get("name")
    if not all(is_uuid(value) for value in ids.values()) or (
        name is not None and not re.fullmatch(NAME_PATTERN, str(name))
    ):
        return st.just(path_parameters)
    assert context.operation is not None
    readable = LABELS if context.operation.label in READS_LATEST else tuple(set(LABELS) - {LATEST})
    live = [{key: made[key] for key in ids if key in made} for made in seeded(context)]
    names = [{}] if name is None else [{"name": label} for label in sorted(readable)]
    return st.sampled_from([*(path_parameters | made | named for made in live for named in names), path_parameters])


@schema.hook("flatmap_body")
def live_versions_too(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """A label's move names a generated version, or a version of the operation's live agent (compiled or draft)."""
    if not (isinstance(body, dict) and set(body) == {"blueprint_id"} and isinstance(body["blueprint_id"], str)
            and is_uuid(body["blueprint_id"])):  # fmt: skip
        return st.just(body)
    return st.sampled_from([*({"blueprint_id": made["version_id"]} for made in seeded(context)), body])


def labels() -> list[str]:
    """Every operation of the document, as Schemathesis names them ("GET /org-agents/{agent_id}")."""
    operations = list(schema.get_all_operations())
    assert all(isinstance(result, Ok) for result in operations), operations
    return [result.ok().label for result in operations if isinstance(result, Ok)]


@pytest.mark.parametrize("label", labels())
def test_every_generated_request_is_answered_as_the_openapi_document_says(label: str) -> None:
    """One operation, through every phase Schemathesis's own pytest integration runs (examples, coverage, fuzzing);
    each failure it finds is reported with a curl command that reproduces it."""
    operation = schema.find_operation_by_label(label)
    assert operation is not None

    def answered_as_documented(case: schemathesis.Case[Any]) -> None:
        case.call_and_validate(checks=CHECKS)

    build_operation_test(
        config=schema.config,
        operation=operation,
        test_func=answered_as_documented,
        given_kwargs={},
        feedback=FeedbackSources(constants_value_source=make_constants_value_source(schema)),
        explicit_settings=settings(
            max_examples=MAX_EXAMPLES,
            deadline=None,
            derandomize=True,
            database=None,
            suppress_health_check=list(HealthCheck),
        ),
    )()


def test_every_check_schemathesis_has_runs() -> None:
    """`--checks all`: each check Schemathesis registers is in CHECKS (an upgrade that adds one fails here)."""
    assert {check.__name__ for check in CHECKS} == set(REGISTRY.get_all_names())


# -- the stateful phase -------------------------------------------------------------------------------------------
# Its own app, on memory deps made anew for each scenario (hypothesis replays a scenario and expects the same
# answers: a store that kept the last scenario's agents, tokens and Idempotency-Keys would answer otherwise), and its
# own owner's key in each.
SCENARIO_APP: Final = create_app(
    Settings(database_url=None, data_dir=Path(tempfile.gettempdir()), auth_failure_limit=None), memory_deps()
)
with get_client(cast("Any", SCENARIO_APP)):  # its lifespan, once: it puts the deps in the app's state
    pass
SCENARIO_KEY: Final = [""]  # the current scenario's owner's key
stateful = schemathesis.openapi.from_asgi("/schema/openapi.json", SCENARIO_APP)
stateful.config.generation.update(allow_extra_parameters=False)  # as above
SCENARIO_REJECTION: Final = stateful.config.checks.negative_data_rejection
SCENARIO_REJECTION.expected_statuses = [*SCENARIO_REJECTION.expected_statuses, "413"]  # as above


@stateful.auth(refresh_interval=None)
class ScenarioOwner:
    """The current scenario's owner's key: explicit credentials, so ignored_auth tries without them too."""

    def get(self, case: schemathesis.Case[Any], context: schemathesis.AuthContext) -> str:
        return SCENARIO_KEY[0]

    def set(self, case: schemathesis.Case[Any], data: str, context: schemathesis.AuthContext) -> None:
        case.headers["Authorization"] = f"Bearer {data}"


def new_scenario() -> None:
    """An empty service with one organization and its owner's key."""
    deps = memory_deps()
    owner = asyncio.run(create_token(deps, CreateToken(org_name="acme", user_id="acme-owner", role=Role.OWNER)))
    SCENARIO_APP.state.deps = deps
    SCENARIO_KEY[0] = owner.secret


def resolved(node: Any) -> Any:
    """A schema with its `$ref` (to the document's components) followed."""
    while isinstance(node, dict) and "$ref" in node:
        node = stateful.raw_schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def types_at(node: Any, pointer: list[str]) -> set[str]:
    """The JSON types a response schema allows at a link's pointer (`*`: any item of an array)."""
    node = resolved(node)
    if not pointer:
        return {kind for option in node.get("oneOf", [node]) for kind in [resolved(option).get("type")] if kind}
    if "oneOf" in node:
        return set().union(*(types_at(option, pointer) for option in node["oneOf"]))
    step, *rest = pointer
    return types_at(node["items"] if step == "*" else node.get("properties", {}).get(step, {}), rest)


def agents_by_their_uuid() -> int:
    """Schemathesis infers links from names: an agent's `agent_id` field (the seed's integer number) is taken for the
    `{agent_id}` of a path (the agent's UUID, its `id`), so every link from an answered agent would lead to a 404
    and ensure_resource_availability would blame the service. Each such link takes the `id` beside it instead."""
    stateful.analysis.inject_links()
    corrected = 0
    for operations in stateful.raw_schema["paths"].values():
        for operation in operations.values():
            for response in operation.get("responses", {}).values():
                body = response.get("content", {}).get("application/json", {}).get("schema")
                for link in response.get("links", {}).values():
                    for name, expression in link.get("parameters", {}).items():
                        prefix, _, pointer = str(expression).partition("$response.body#/")
                        steps = pointer.split("/")
                        if not prefix and pointer and steps[-1] == "agent_id" and "integer" in types_at(body, steps):
                            link["parameters"][name] = "$response.body#/" + "/".join([*steps[:-1], "id"])
                            corrected += 1
    stateful._operations.clear_cache()  # operations built before read the links as they were
    return corrected


assert agents_by_their_uuid() > 0


class Scenarios(stateful.as_state_machine()):  # type: ignore[misc]  # a class Schemathesis builds from the document
    """Schemathesis's stateful phase: sequences of calls that follow the links it infers from the document (an
    agent's `id` from POST /org-agents into GET /org-agents/{agent_id}, a version's into its compile, a token's into
    its revocation, …), with every check, including the ones about state: a resource just created is found
    (ensure_resource_availability), one just deleted is not (use_after_free)."""

    def setup(self) -> None:
        new_scenario()

    def validate_response(
        self, response: Response, case: schemathesis.Case[Any], additional_checks: Any = None, **kwargs: Any
    ) -> None:
        case.validate_response(response, checks=CHECKS, transport_kwargs=kwargs or None, recorder=self.recorder)


TestScenarios = Scenarios.TestCase
TestScenarios.settings = settings(
    max_examples=SCENARIOS,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
