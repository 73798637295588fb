"""Two `serve` instances on one database, as behind a load balancer: what one changes (or the CLI, a third process)
reaches every worker of the other, although each answers live prompts and tokens from its own memory; a watch held
by one is answered when the other moves the label.

Instance B runs two workers; every change is checked on many requests after it is first seen, so both workers
have it. Waiting polls (no sleeping for timing); the times are printed, and measured properly in bench/.
"""

import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
import pytest

from adapters.postgres.changes import APPLICATION_NAME
from adapters.postgres.migrations import load_migrations, migrate_up
from entrypoints.http.examples import shop_buddy
from tests.conftest import create_database, database_conninfo, database_url_env, drop_database
from tests.pgbouncer import via
from tests.serving import ORG_AGENTS, Serving, serving

# Servers of their own, seconds to start: one pair for the module, its tests each in agents and keys of their own.
pytestmark = [pytest.mark.postgres, pytest.mark.slow, pytest.mark.xdist_group("two-instances")]

DEADLINE_S = 5.0
CONFIRMATIONS = 40  # requests after a change is first seen, all of which must show it


def token(env: dict[str, str], user: str, role: str) -> tuple[str, str]:
    """(secret, token id), minted by the CLI."""
    made = subprocess.run(
        [ORG_AGENTS, "token", "create", "--org", "acme", "--user", user, "--role", role],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    first, secret = made.stdout.splitlines()[-2:]
    return secret, first.split()[1]


def settles(http: httpx.Client, path: str, expected: Callable[[httpx.Response], bool], what: str) -> float:
    """Seconds until B answers as expected, then CONFIRMATIONS more answers that all are."""
    started = time.monotonic()
    while not expected(answer := http.get(path)):
        assert time.monotonic() - started < DEADLINE_S, f"{what}: still {answer.status_code} {answer.text[:200]}"
    seen = time.monotonic() - started
    for _ in range(CONFIRMATIONS):
        answer = http.get(path)
        assert expected(answer), f"{what}: a worker answered {answer.status_code} after the change was seen"
    print(f"{what}: {seen * 1000:.1f} ms")  # shown with -s
    return seen


@pytest.fixture(scope="module")
def module_database(pg_admin: str) -> Iterator[str]:
    name = f"oa_two_{uuid.uuid4().hex[:12]}"
    create_database(pg_admin, name)
    conninfo = database_conninfo(pg_admin, name)
    migrate_up(conninfo, load_migrations())
    try:
        yield conninfo
    finally:
        drop_database(pg_admin, name)


@pytest.fixture(scope="module")
def instances(
    module_database: str, through_pgbouncer: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Serving, Serving, dict[str, str]]]:
    """A on the database itself, B through PgBouncer in transaction pooling mode (its change feed listening on a
    direct connection), as a deployment may mix them."""
    env = database_url_env(module_database)
    pooled = env | {
        "DATABASE_URL": via(through_pgbouncer, module_database), "ORG_AGENTS_PGBOUNCER": "1",
        "ORG_AGENTS_LISTEN_URL": module_database,
    }  # fmt: skip
    tmp_path = tmp_path_factory.mktemp("instances")
    with (
        serving(env, tmp_path / "a.log", ["--no-migrate", "--workers", "1"]) as a,
        serving(pooled, tmp_path / "b.log", ["--no-migrate", "--workers", "2"]) as b,
    ):
        yield a, b, env


def test_a_rollback_a_switch_off_and_a_revoked_token_reach_every_worker_of_another_instance(
    instances: tuple[Serving, Serving, dict[str, str]], module_database: str
) -> None:
    a, b, env = instances
    owner, _ = token(env, "ana", "owner")
    reader, reader_id = token(env, "runtime", "member")
    with (
        httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {owner}"}, timeout=30) as on_a,
        httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {reader}"}, timeout=30) as on_b,
    ):
        made = on_a.post("/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()})
        agent, v1 = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        v2 = on_a.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shop_buddy()}).json()["id"]
        for version in (v1, v2):
            assert on_a.post(f"/org-agents/{agent}/blueprints/{version}/compile?activate=true").status_code == 200
        prompt = f"/org-agents/{agent}/prompt"

        def live(version: str) -> Callable[[httpx.Response], bool]:
            return lambda answer: answer.status_code == 200 and answer.headers["etag"] == f'"{version}"'

        settles(on_b, prompt, live(v2), "v2 live on B")  # and now held in B's workers' memory

        assert on_a.post(f"/org-agents/{agent}/blueprints/{v1}/activate").status_code == 200
        settles(on_b, prompt, live(v1), "rollback to v1 reached B")

        # The listening connections are cut (a failover, a network blip); a change made meanwhile is still seen.
        with psycopg.connect(module_database, autocommit=True) as conn:
            cut = conn.execute(
                "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                " WHERE application_name = %(name)s AND datname = current_database()",
                {"name": APPLICATION_NAME},
            ).fetchone()
        assert cut is not None
        assert cut[0] == 3  # A's worker and B's two
        assert on_a.post(f"/org-agents/{agent}/blueprints/{v2}/activate").status_code == 200
        settles(on_b, prompt, live(v2), "activation while the feeds were cut reached B")

        assert on_a.post(f"/org-agents/{agent}/deactivate").status_code == 200
        settles(on_b, prompt, lambda answer: answer.status_code == 404, "deactivation reached B")
        assert on_a.post(f"/org-agents/{agent}/activate").status_code == 200
        settles(on_b, prompt, live(v2), "reactivation reached B")

        revoked = subprocess.run(
            [ORG_AGENTS, "token", "revoke", reader_id], env=env, capture_output=True, timeout=120, check=False
        )
        assert revoked.returncode == 0, revoked.stderr
        settles(on_b, prompt, lambda answer: answer.status_code == 401, "revocation by the CLI reached B")


def test_a_label_moved_on_one_instance_is_served_by_the_other_and_answers_a_watch_held_there(
    instances: tuple[Serving, Serving, dict[str, str]],
) -> None:
    a, b, env = instances
    owner, _ = token(env, "ana", "owner")
    reader, _ = token(env, "runtime", "member")
    with (
        httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {owner}"}, timeout=30) as on_a,
        httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {reader}"}, timeout=90) as on_b,
    ):
        made = on_a.post("/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()})
        agent, v1 = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        v2 = on_a.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shop_buddy()}).json()["id"]
        for version in (v1, v2):
            assert on_a.post(f"/org-agents/{agent}/blueprints/{version}/compile").status_code == 200
        labels = f"/org-agents/{agent}/labels/staging"
        staging = f"/org-agents/{agent}/prompt?label=staging"

        def live(version: str) -> Callable[[httpx.Response], bool]:
            return lambda answer: answer.status_code == 200 and answer.headers["etag"] == f'"{version}"'

        assert on_a.put(labels, json={"blueprint_id": v1}).status_code == 200
        settles(on_b, staging, live(v1), "staging made on A is served by B")  # and now held in B's workers' memory
        assert on_a.put(labels, json={"blueprint_id": v2}).status_code == 200
        settles(on_b, staging, live(v2), "staging moved on A is served by B")

        # B holds a watch while the label stays put (its feed is up): answered 304 at the timeout, not at once.
        started = time.monotonic()
        unchanged = on_b.get(f"{staging}&wait=1", headers={"If-None-Match": f'"{v2}"'})
        assert (unchanged.status_code, unchanged.headers["etag"]) == (304, f'"{v2}"')
        assert time.monotonic() - started >= 0.9

        # A runtime on B waits on v2; the rollback on A answers it. Had B not heard of the move, its memory would
        # still say v2 and the watch would end in a 304 after 60 s instead.
        with ThreadPoolExecutor(max_workers=1) as pool:
            watching = pool.submit(on_b.get, f"{staging}&wait=60", headers={"If-None-Match": f'"{v2}"'})
            assert on_a.put(labels, json={"blueprint_id": v1}).status_code == 200
            moved_at = time.monotonic()
            answered = watching.result(timeout=DEADLINE_S + 5)
        assert live(v1)(answered), (answered.status_code, answered.text[:200])
        assert answered.json()["label"] == "staging"
        print(f"watch on B answered {(time.monotonic() - moved_at) * 1000:.1f} ms after the move on A")
        assert time.monotonic() - moved_at < DEADLINE_S

        assert on_a.delete(labels).status_code == 204
        settles(on_b, staging, lambda answer: answer.status_code == 404, "staging deleted on A is gone on B")


def test_an_expiring_key_is_refused_by_both_instances_from_its_expiry_with_no_notice(
    instances: tuple[Serving, Serving, dict[str, str]],
) -> None:
    a, b, env = instances
    owner, _ = token(env, "ana", "owner")
    with httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {owner}"}, timeout=30) as on_a:
        made = on_a.post("/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()})
        agent, v1 = made.json()["agent"]["id"], made.json()["blueprint"]["id"]
        assert on_a.post(f"/org-agents/{agent}/blueprints/{v1}/compile?activate=true").status_code == 200
        expires = datetime.now(UTC) + timedelta(seconds=3)
        key = {"user_id": "runtime", "role": "member", "scope": "prompt", "expires_at": expires.isoformat()}
        runtime = on_a.post("/tokens", json=key).json()["secret"]
    prompt = f"/org-agents/{agent}/prompt"
    answers: list[tuple[datetime, datetime, int]] = []  # (sent, answered, status)
    with (
        httpx.Client(base_url=a.url, headers={"Authorization": f"Bearer {runtime}"}, timeout=30) as runtime_a,
        httpx.Client(base_url=b.url, headers={"Authorization": f"Bearer {runtime}"}, timeout=30) as runtime_b,
    ):
        while not answers or answers[-1][0] < expires + timedelta(seconds=1):  # polls past the expiry; no sleep
            for http in (runtime_a, runtime_b):
                sent = datetime.now(UTC)
                status = http.get(prompt).status_code
                answers.append((sent, datetime.now(UTC), status))
            assert datetime.now(UTC) < expires + timedelta(seconds=DEADLINE_S)

    before = {status for _, answered, status in answers if answered < expires}
    after = {status for sent, _, status in answers if sent >= expires}
    assert before == {200}  # served, from memory once cached, by every worker until the expiry
    assert after == {401}  # and refused by every one from then on: nothing was written, nothing announced
