"""The request parsers, fuzzed for a bounded number of examples: no body of any bytes and no query of any text (NUL,
invalid UTF-8, lone percent signs, repeated names) is ever a 500 (issue 20, item 4). The bad-input matrix names the
cases we know; this looks for the ones we do not."""

from typing import Any, Final
from urllib.parse import quote

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import ENDPOINTS, Client, Endpoint, World
from tests.e2e.test_openapi import openapi, operations

pytestmark = pytest.mark.anyio

WITH_BODY: Final = tuple(e for e in ENDPOINTS if e.body is not None)
READS: Final = tuple(e for e in ENDPOINTS if e.method == "GET")
# Every query parameter some route reads, and a few none does.
PARAMETERS: Final = (
    "limit", "cursor", "status", "conversation_id", "label", "wait", "from", "agent_id", "action", "actor", "since",
    "until", "activate", "include", "x",
)  # fmt: skip
FUZZ: Final = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def json_with_bad_bytes(valid: dict[str, Any]) -> st.SearchStrategy[bytes]:
    """A valid body with bytes spliced in: invalid UTF-8, NUL escapes, truncations."""
    text = msgspec.json.encode(valid)
    spliced = st.sampled_from([b"\xff", b"\xc3", b"\\u0000", b"\x00", b"\xed\xa0\x80", b""])
    return st.tuples(st.integers(0, len(text)), spliced, st.booleans()).map(
        lambda cut: text[: cut[0]] + cut[1] + (b"" if cut[2] else text[cut[0] :])
    )


bodies = st.one_of(
    st.binary(max_size=300),
    st.sampled_from(WITH_BODY).flatmap(lambda e: json_with_bad_bytes(e.json("a", "b") or {})),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
        max_leaves=12,
    ).map(lambda value: msgspec.json.encode(value)),
)
texts = st.text(st.characters(codec="utf-8"), max_size=40) | st.sampled_from(["\x00", "a\x00b", "%", "%ff", "%00"])


def raw_query(pairs: list[tuple[str, str]], raw: bytes) -> str:
    encoded = "&".join(f"{quote(name)}={quote(value, safe='')}" for name, value in pairs)
    return encoded + ("&" + raw.decode("latin-1") if raw else "")


@FUZZ
@given(endpoint=st.sampled_from(WITH_BODY), body=bodies)
async def test_a_body_of_any_bytes_is_never_a_500(
    client: Client, world: World, endpoint: Endpoint, body: bytes
) -> None:
    response = await client.request(
        endpoint.method, endpoint.url(world.live, world.live_v2), content=body,
        headers=world.acme.owner.headers | {"content-type": "application/json"},
    )  # fmt: skip
    assert response.status_code < 500, (endpoint, body, response.text)
    assert "Traceback" not in response.text


@FUZZ
@given(
    endpoint=st.sampled_from(READS),
    pairs=st.lists(st.tuples(st.sampled_from(PARAMETERS), texts), max_size=4),
    raw=st.sampled_from([b"", b"%FF", b"limit=%00", b"cursor=%C3%28", b"label=%", b"since=%ZZ", b"=&&="]),
)
async def test_a_query_of_any_text_is_never_a_500(
    client: Client, world: World, endpoint: Endpoint, pairs: list[tuple[str, str]], raw: bytes
) -> None:
    path = endpoint.url(world.live, world.live_v1).split("?")[0]
    response = await client.get(f"{path}?{raw_query(pairs, raw)}", headers=world.acme.owner.headers)
    assert response.status_code < 500, (endpoint, pairs, raw, response.text)
    assert "Traceback" not in response.text


# Each of these in each query parameter each read documents, exhaustively: the forms that broke parsers before.
HOSTILE: Final = ("a%00b", "%FF", "%C3%28", "%ZZ")


async def test_every_query_parameter_of_every_read_takes_nul_and_broken_encodings_without_a_500(
    client: Client, world: World
) -> None:
    document = await openapi(client)
    failures, swept = [], 0
    for endpoint in READS:
        path = endpoint.url(world.live, world.live_v1).split("?")[0]
        documented = operations(document)[endpoint.route].get("parameters", [])
        names = [p["name"] for p in documented if p["in"] == "query"]
        swept += len(names)
        for name in names:
            for value in HOSTILE:
                response = await client.get(f"{path}?{name}={value}", headers=world.acme.owner.headers)
                if response.status_code >= 500 or "Traceback" in response.text:
                    failures.append((path, name, value, response.status_code))
    assert failures == []
    assert swept >= 20  # limit, cursor, label, wait, conversation_id, the audit filters…: the sweep sweeps them
