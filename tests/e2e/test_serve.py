"""`org-agents serve` as a newcomer runs it: embedded PostgreSQL, migrations, a token from a second terminal."""

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final, cast

import anyio
import httpx
import psycopg
import pytest
from litestar import Litestar
from psycopg import sql
from psycopg.conninfo import make_conninfo

from adapters.embedded_postgres import embedded_postgres
from adapters.postgres.roles import SERVICE_ROLE
from application.tokens import CreateToken, create_token
from domain.roles import Role
from entrypoints.http.app import create_app
from entrypoints.http.examples import shop_buddy
from entrypoints.settings import Settings
from tests.integration.test_embedded_postgres import postmaster_pid
from tests.serving import ORG_AGENTS, serving

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # servers of their own: seconds each


def request(url: str, token: str | None = None) -> tuple[int, dict[str, str], object]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=30) as response:  # noqa: S310
            return response.status, dict(response.headers), json.loads(response.read())
    except urllib.error.HTTPError as error:
        with error:
            return error.code, dict(error.headers), json.loads(error.read() or b"null")


@pytest.fixture
def data_dir_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "ORG_AGENTS_TEST_DATABASE_URL"}}
    env["ORG_AGENTS_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.fixture
def server(data_dir_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    with serving(data_dir_env, tmp_path / "serve.log") as served:
        yield served.url, served.proc


def test_serve_runs_on_the_embedded_server_and_a_second_terminal_mints_a_token_on_it(
    server: tuple[str, subprocess.Popen[bytes]], data_dir_env: dict[str, str]
) -> None:
    base, proc = server
    data_dir = Path(data_dir_env["ORG_AGENTS_DATA_DIR"])
    pid = postmaster_pid(data_dir)
    assert request(f"{base}/health")[:1] == (200,)
    assert request(f"{base}/ready")[::2] == (200, {"status": "ready"})

    created = subprocess.run(
        [ORG_AGENTS, "token", "create", "--org", "acme", "--user", "ana", "--role", "owner"],
        env=data_dir_env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    token = created.stdout.splitlines()[-1]
    assert postmaster_pid(data_dir) == pid  # the second command used the running server
    assert_the_workers_cannot_change_the_schema(data_dir)

    status, _, who = request(f"{base}/whoami", token)
    assert status == 200
    assert isinstance(who, dict)
    assert (who["user_id"], who["role"]) == ("ana", "owner")

    status, headers, _ = request(f"{base}/whoami", "oat_wrong")
    assert status == 401
    assert headers["www-authenticate"].startswith("Bearer")

    listing = subprocess.run(
        [ORG_AGENTS, "token", "list", "--org", "acme"], env=data_dir_env, capture_output=True, text=True, check=True
    )
    token_id = listing.stdout.splitlines()[1].split("\t")[0]
    subprocess.run([ORG_AGENTS, "token", "revoke", token_id], env=data_dir_env, capture_output=True, check=True)
    assert request(f"{base}/whoami", token)[0] == 401

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert postmaster_pid(data_dir) is None  # the last user stopped the embedded server


def assert_the_workers_cannot_change_the_schema(data_dir: Path) -> None:
    """serve's workers connect as the service role (issue 20, item 6): it reads and writes, and changes nothing else."""
    with embedded_postgres(data_dir) as owner, psycopg.connect(owner, autocommit=True) as conn:
        users = conn.execute(
            "SELECT DISTINCT usename FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname = "
            "current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
        assert users == [(SERVICE_ROLE,)]
        with psycopg.connect(make_conninfo(owner, user=SERVICE_ROLE), autocommit=True) as service:
            assert service.execute("SELECT count(*) FROM agent_api_tokens").fetchone() == (1,)
            for ddl in ("CREATE TABLE planted (x int)", "DROP TABLE agent_audit_events", "TRUNCATE org_agents",
                        "ALTER TABLE agent_blueprints DROP COLUMN message", "CREATE SCHEMA planted",
                        "CREATE ROLE planted SUPERUSER"):  # fmt: skip
                with pytest.raises(psycopg.errors.InsufficientPrivilege):
                    service.execute(ddl)


def test_a_request_without_a_token_is_refused_with_a_challenge(server: tuple[str, subprocess.Popen[bytes]]) -> None:
    status, headers, _ = request(f"{server[0]}/whoami")

    assert status == 401
    assert headers["www-authenticate"] == 'Bearer realm="org-agents"'


BOUND_S: Final = 60.0  # far above what starting the app and a few requests take


@asynccontextmanager
async def on_this_loop(settings: Settings) -> AsyncIterator[tuple[httpx.AsyncClient, Litestar]]:
    """The app with its own database pool, its lifespan and requests on the test's own event loop, bounded: a test
    client on a loop of its own (AsyncTestClient's portal thread) sometimes never finished starting this app here
    (three CI runs in seven on 2026-12-03), and a hang must fail, not stall the suite."""
    app = create_app(settings)
    transport = httpx.ASGITransport(app=cast("Any", app))  # Litestar's ASGI types are narrower than httpx's
    with anyio.fail_after(BOUND_S):
        async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client, app


@pytest.mark.anyio
async def test_ready_reports_503_while_the_database_is_gone(pg_admin: str, migrated_database: str) -> None:
    settings = msgspec_replace_url(migrated_database)
    async with on_this_loop(settings) as (client, _):
        assert (await client.get("/ready")).status_code == 200

        with psycopg.connect(pg_admin, autocommit=True) as conn:
            name = psycopg.conninfo.conninfo_to_dict(migrated_database)["dbname"]
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(str(name))))

        response = await client.get("/ready")
        assert response.status_code == 503
        assert response.headers["retry-after"] == "1"
        assert (await client.get("/health")).status_code == 200


def test_an_agent_goes_live_over_a_real_socket_and_its_prompt_is_cached_by_etag(
    server: tuple[str, subprocess.Popen[bytes]], data_dir_env: dict[str, str]
) -> None:
    created = subprocess.run(
        [ORG_AGENTS, "token", "create", "--org", "acme", "--user", "ana", "--role", "owner"],
        env=data_dir_env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    auth = {"Authorization": f"Bearer {created.stdout.splitlines()[-1]}", "X-Request-ID": "smoke-1"}

    with httpx.Client(base_url=server[0], headers=auth, timeout=30) as http:
        made = http.post("/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()})
        assert made.status_code == 201, made.text
        assert made.headers["x-request-id"] == "smoke-1"
        agent, version = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        assert made.headers["location"] == f"/org-agents/{agent}"

        compiled = http.post(f"/org-agents/{agent}/blueprints/{version}/compile", params={"activate": "true"})
        assert compiled.status_code == 200, compiled.text
        assert compiled.json()["compilation_status"] == "compiled"

        live = http.get(f"/org-agents/{agent}/prompt")
        assert live.status_code == 200
        assert live.json()["compiled_system_prompt"] == compiled.json()["compiled_system_prompt"]
        cached = http.get(f"/org-agents/{agent}/prompt", headers={"If-None-Match": live.headers["etag"]})
        assert (cached.status_code, cached.content) == (304, b"")

        def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while the body streams in
            yield b'{"name": "x", "description": "'
            yield from (b"y" * 1024 for _ in range(70))
            yield b'"}'

        too_big = http.post("/org-agents", content=chunks(), headers={"Content-Type": "application/json"})
        assert too_big.status_code == 413
        assert too_big.headers["content-type"].startswith("application/problem+json")


@pytest.mark.anyio
async def test_an_api_request_while_the_database_is_gone_is_503_with_retry_after(
    pg_admin: str, migrated_database: str
) -> None:
    async with on_this_loop(msgspec_replace_url(migrated_database)) as (client, app):
        owner = CreateToken(org_name="acme", user_id="ana", role=Role.OWNER)
        issued = await create_token(app.state.deps, owner)
        auth = {"Authorization": f"Bearer {issued.secret}"}
        assert (await client.post("/org-agents", json={"name": "Shop Buddy"}, headers=auth)).status_code == 201

        with psycopg.connect(pg_admin, autocommit=True) as conn:
            name = psycopg.conninfo.conninfo_to_dict(migrated_database)["dbname"]
            conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(str(name))))

        for _ in range(2):  # the first finds its pooled connection killed, the second finds no connection at all
            response = await client.get("/org-agents", headers=auth)
            assert response.status_code == 503, response.text
            assert response.headers["retry-after"] == "1"
            assert response.headers["content-type"].startswith("application/problem+json")


def msgspec_replace_url(conninfo: str) -> Settings:
    return Settings(database_url=conninfo, data_dir=Path("/nonexistent"), pool_min_size=1, pool_timeout_s=1.0)
