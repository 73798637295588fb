"""An outside client: Schemathesis reads the service's own OpenAPI document and sends generated requests to every
operation (its examples, boundary and malformed "coverage" cases, then random valid and invalid ones) with a valid
owner's token. Whatever it sends, the answer is never a 5xx; its status code, content type, headers and body are the
ones the document declares; and a request that violates the document is refused with a 4xx.

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
import tempfile
import uuid
from pathlib import Path
from typing import Any, Final, cast

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.result import Ok
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.pytest._test_builder import build_operation_test  # what `schema.parametrize()` runs per operation
from schemathesis.python._constants.orchestrator import make_constants_value_source
from schemathesis.python.asgi import get_client
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from application.tokens import CreateToken, create_token
from domain.roles import Role
from entrypoints.bootstrap import memory_deps
from entrypoints.http.app import create_app
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings

pytestmark = pytest.mark.slow

MAX_EXAMPLES: Final = 30  # random cases per operation, on top of its examples and coverage cases (CI time: README)
CHECKS: Final = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    unsupported_method,
]

DEPS: Final = memory_deps()
APP: Final = create_app(Settings(database_url=None, data_dir=Path(tempfile.gettempdir())), DEPS)  # unused dir
OWNER: Final = asyncio.run(create_token(DEPS, CreateToken(org_name="acme", user_id="acme-owner", role=Role.OWNER)))
AUTHORIZATION: Final = {"Authorization": f"Bearer {OWNER.secret}"}

schema = schemathesis.openapi.from_asgi("/schema/openapi.json", APP)
schema.config.update(headers=AUTHORIZATION)
# Unknown query parameters are ignored, as the document allows; they are not an invalid request.
schema.config.generation.update(allow_extra_parameters=False)
# A body over the size limit is refused before it is read: 413 is a rejection too.
REJECTION: Final = schema.config.checks.negative_data_rejection
REJECTION.expected_statuses = [*REJECTION.expected_statuses, "413"]

SEEDED: Final[dict[str, list[dict[str, str]]]] = {}
LABELS: Final = ("staging", "production", "latest")  # what the seeded agent has
MAX_LABEL_PATH: Final = 100  # the label path parameter's documented maxLength (entrypoints/http/labels.py)


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
    if not all(is_uuid(value) for value in ids.values()) or (name is not None and len(str(name)) > MAX_LABEL_PATH):
        return st.just(path_parameters)
    live = [{key: made[key] for key in ids if key in made} for made in seeded(context)]
    names = [{}] if name is None else [{"name": label} for label in LABELS]
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
