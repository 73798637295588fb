"""`python -m bench.targets`: issue 19's ratios against its anchors, in one run (BENCHMARKS.md, "Against the
anchors"). Serve (2 workers) and the three anchors run side by side on a fresh database (embedded, or a scratch one
on DATABASE_URL's server): the bare ASGI app and the minimal Litestar + psycopg app on granian with serve's worker
count (bench/anchors/), and Debian's nginx. Each comparison: both warmed, then anchor and serve in turn, RUNS times,
wrk -t2 -c64 for DURATION s each; medians. Prints one JSON line per comparison, then a Markdown table."""

import base64
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final

import httpx
import msgspec
import psycopg

from bench.anchors import nginx
from bench.measure import Versions, WriteRun
from bench.seed import bench_database
from bench.wrk import WRK
from bench.wrk import wrk as scripted_wrk
from entrypoints.http.examples import shop_buddy

ROOT: Final = Path(__file__).resolve().parent.parent
BIN: Final = Path(sys.executable).parent
WORKERS: Final = 2
VERSIONS: Final = 30  # the agent whose versions are listed (one page of 20 and more)
AGENTS: Final = 25  # beside it, for the agents' page
WRITERS: Final = 32  # connections POSTing versions: all on one agent, or each on an agent of its own
# Per agent, in the order given: its versions' count, lowest and highest number.
VERSIONS_OF: Final = """
    SELECT count(b.version), min(b.version), max(b.version)
    FROM unnest(%s::uuid[]) WITH ORDINALITY AS a(id, n) LEFT JOIN agent_blueprints b ON b.agent_id = a.id
    GROUP BY a.id, a.n ORDER BY a.n
"""
SERVICE_BUSY: Final = """
    SELECT count(*) FROM pg_stat_activity WHERE application_name = 'org-agents' AND state IS DISTINCT FROM 'idle'
"""


class Servers:
    def __init__(self, tmp: Path, env: dict[str, str]) -> None:
        self.tmp, self.env, self.procs = tmp, env, list[subprocess.Popen[bytes]]()

    def start(self, name: str, command: Sequence[str], port: int, extra: dict[str, str] | None = None) -> None:
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(command, cwd=ROOT, env=self.env | (extra or {}), stdout=log, stderr=log)  # noqa: S603
        self.procs.append(proc)
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.procs[-1].poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"{name} did not start: {self.tmp / f'{name}.log'}")

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(60)


def wrk(port: int, path: str, token: str, seconds: int) -> tuple[float, float]:
    """(req/s, p99 ms); any error answer or socket error stops the run."""
    out = subprocess.run(  # noqa: S603 - this module's own commands
        [WRK, "-t2", "-c64", f"-d{seconds}s", "--latency", "-H", f"Authorization: Bearer {token}",
         f"http://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    if "Non-2xx" in out or "Socket errors" in out:
        raise SystemExit(f"errors under load on :{port}{path}:\n{out}")
    found = re.search(r" 99%\s+([\d.]+)(us|ms|s)\b", out)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if found is None or rate is None:
        raise SystemExit(f"wrk's output not understood:\n{out}")
    return float(rate[1]), float(found[1]) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[found[2]]


def cpu_times() -> list[int]:
    """The machine's CPU time so far, in jiffies, by kind (user, nice, system, idle, iowait, irq, softirq, steal)."""
    return [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]


def stolen(before: list[int], after: list[int]) -> float:
    """The share of the machine's CPU time between two readings that its hypervisor gave to others (steal): on a
    shared host, what makes one run's numbers incomparable with another's, and its ratios noisier."""
    spent = [b - a for a, b in zip(before, after, strict=True)]
    return spent[7] / max(sum(spent), 1)


def owner_token(conninfo: str) -> str:
    """A key of an owner of a new organization, minted as a person would: `org-agents token create`."""
    made = subprocess.run(  # noqa: S603 - this module's own commands
        [BIN / "org-agents", "token", "create", "--org", "bench", "--user", "ana", "--role", "owner"],
        cwd=ROOT, capture_output=True, text=True, check=True, env=os.environ | {"DATABASE_URL": conninfo},
    )  # fmt: skip
    return made.stdout.strip().splitlines()[-1]


def main(argv: Sequence[str] = sys.argv[1:]) -> int:
    only_writes = "--writes" in argv  # the writes alone: the reads' cases and their anchors skipped
    argv = [arg for arg in argv if arg != "--writes"]
    seconds, runs = (int(argv[0]), int(argv[1])) if len(argv) == 2 else (5, 3)
    if not Path(WRK).exists() or not Path(nginx.NGINX).exists():
        print("bench.targets needs wrk and nginx: `apt-get install wrk nginx-light`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="org-agents-targets-") as name:
        tmp = Path(name)
        tmp.chmod(0o755)  # nginx's workers run as nobody under root; the embedded server as its own user
        with bench_database(tmp) as (conninfo, _):
            env = os.environ | {
                "DATABASE_URL": conninfo,
                "ORG_AGENTS_METRICS": "off",
                "ORG_AGENTS_RATE_LIMIT": "1000000",
            }
            token = owner_token(conninfo)
            servers = Servers(tmp, env)
            try:
                return measure(servers, token, seconds, runs, conninfo, reads=not only_writes)
            finally:
                servers.stop()
    return 0


def versions_of(conninfo: str, agents: Sequence[str]) -> list[Versions]:
    """Each agent's versions once serve has finished what was in flight: no connection of its pool busy, and two
    readings in a row the same."""
    previous = None
    with psycopg.connect(conninfo, autocommit=True) as conn:
        for _ in range(600):
            busy = conn.execute(SERVICE_BUSY).fetchone()
            found = [Versions(*row) for row in conn.execute(VERSIONS_OF, [list(agents)]).fetchall()]
            if busy == (0,) and found == previous:
                return found
            previous = found
            time.sleep(0.05)
    raise SystemExit("serve was still writing 30 s after the load")


def writes(tmp: Path, conninfo: str, token: str, agents: Sequence[str], seconds: int) -> float:
    """WRITERS connections POST versions for `seconds`: to one agent (wrk -t2), or (WRITERS agents) connection n to
    agent n (wrk -tWRITERS, bench.lua's one path per thread). Versions acknowledged per second; it stops unless each
    agent's run is correct as bench.measure's (d) judges one: every answer 201, numbers gapless, no acknowledged
    version lost, at most one committed unacknowledged per connection."""
    env = {"BENCH_BODY_FILE": str(tmp / "version.json")}
    (tmp / "version.json").write_text(json.dumps({"agent_blueprint": shop_buddy()}))
    url, threads = f"http://127.0.0.1:8111/org-agents/{agents[0]}/blueprints", 2
    if len(agents) > 1:
        (tmp / "writers.txt").write_text("".join(f"/org-agents/{a}/blueprints {token}\n" for a in agents))
        env["BENCH_PATHS_FILE"], threads = str(tmp / "writers.txt"), len(agents)
    before = versions_of(conninfo, agents)
    run = scripted_wrk(url, WRITERS, seconds, {"Authorization": f"Bearer {token}"}, env, threads)
    after = versions_of(conninfo, agents)
    each = [run] if len(agents) == 1 else [msgspec.structs.replace(run, statuses=s) for s in run.thread_statuses]
    if len(each) != len(agents):
        raise SystemExit(f"{len(each)} threads' answers for {len(agents)} agents")
    problems = [f"agent {n}: {problem}" for n, (one, was, now) in enumerate(zip(each, before, after, strict=True))
                for problem in WriteRun(wrk=one, before=was, after=now).problems(WRITERS // len(agents))]  # fmt: skip
    if problems:
        raise SystemExit(f"writes to {len(agents)} agent(s) went wrong: {'; '.join(problems)}")
    return run.statuses.get(201, 0) / run.seconds


def measure(servers: Servers, token: str, seconds: int, runs: int, conninfo: str, *, reads: bool = True) -> int:
    """Seeds through serve (an agent with VERSIONS versions, its first compiled and live; AGENTS agents beside it,
    WRITERS more for the writes), starts the anchors, compares; then the writes, alone on the machine."""
    servers.start("serve", [str(BIN / "org-agents"), "serve", "--port", "8111", "--workers", str(WORKERS)], 8111)
    api = httpx.Client(base_url="http://127.0.0.1:8111", headers={"Authorization": f"Bearer {token}"})
    made = api.post("/org-agents/with-blueprint", json={"name": "Shop Buddy", "agent_blueprint": shop_buddy()}).json()
    agent, first = made["agent"]["id"], made["blueprint"]["id"]
    api.post(f"/org-agents/{agent}/blueprints/{first}/compile", params={"activate": "true"}).raise_for_status()
    for _ in range(VERSIONS - 1):
        api.post(f"/org-agents/{agent}/blueprints", json={"agent_blueprint": shop_buddy()}).raise_for_status()
    for n in range(AGENTS):
        api.post("/org-agents", json={"name": f"agent {n}"}).raise_for_status()
    writers = [api.post("/org-agents", json={"name": f"writer {n}"}).json()["id"] for n in range(WRITERS)]
    prompt = f"/org-agents/{agent}/prompt"
    answer = api.get(prompt)
    kept = [[k, v] for k, v in answer.headers.items() if k not in {"date", "server", "x-request-id"}]
    (servers.tmp / "answer.json").write_text(json.dumps(
        {"status": answer.status_code, "headers": kept, "body": base64.b64encode(answer.content).decode()}
    ))  # fmt: skip
    granian = [str(BIN / "granian"), "--interface", "asgi", "--workers", str(WORKERS), "--host", "127.0.0.1",
               "--loop", "uvloop"]  # fmt: skip
    servers.start("bare", [*granian, "--port", "8112", "bench.anchors.bare:app"], 8112,
                  {"BENCH_ANSWER_FILE": str(servers.tmp / "answer.json")})  # fmt: skip
    servers.start("minimal", [*granian, "--port", "8113", "bench.anchors.minimal:app"], 8113)
    servers.start("nginx", nginx.prepare(servers.tmp / "nginx", 8114, WORKERS, answer.headers["content-type"],
                                         answer.content), 8114)  # fmt: skip
    cases = [
        ("hot path vs the bare ASGI app", prompt, 8112, prompt),
        ("hot path vs nginx's static file", prompt, 8114, prompt),
        ("GET /org-agents/{id} vs the minimal app", f"/org-agents/{agent}", 8113, f"/org-agents/{agent}"),
        ("a page of versions vs the minimal app", f"/org-agents/{agent}/blueprints", 8113,
         f"/org-agents/{agent}/blueprints"),
        ("a page of agents vs the minimal app", "/org-agents", 8113, "/org-agents"),
    ]  # fmt: skip
    rows: list[dict[str, Any]] = []
    started = cpu_times()
    for name, ours, port, theirs in cases if reads else []:
        wrk(8111, ours, token, 2), wrk(port, theirs, token, 2)
        mine, anchor = [], []
        for _ in range(runs):
            anchor.append(wrk(port, theirs, token, seconds))
            mine.append(wrk(8111, ours, token, seconds))
        row = {
            "case": name, "ours": round(statistics.median(r for r, _ in mine)),
            "anchor": round(statistics.median(r for r, _ in anchor)),
            "ours_p99_ms": round(statistics.median(p for _, p in mine), 2),
            "anchor_p99_ms": round(statistics.median(p for _, p in anchor), 2),
            "ours_runs": [round(r) for r, _ in mine], "anchor_runs": [round(r) for r, _ in anchor],
        }  # fmt: skip
        print(json.dumps(row), flush=True)
        rows.append(row)
    if rows:
        print("\n| comparison | serve req/s (runs) | anchor req/s (runs) | ratio | p99 serve / anchor |")
        print("|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['case']} | {r['ours']:,} ({', '.join(f'{x:,}' for x in r['ours_runs'])}) | {r['anchor']:,} "
            f"({', '.join(f'{x:,}' for x in r['anchor_runs'])}) | **{r['ours'] / r['anchor']:.2f} \u00d7** | "
            f"{r['ours_p99_ms']} / {r['anchor_p99_ms']} ms ({r['ours_p99_ms'] / r['anchor_p99_ms']:.2f} \u00d7) |"
        )
    for proc in servers.procs[1:]:
        proc.terminate()  # the anchors are done: the writes have the machine to themselves
    measured = {}
    for name, agents in ((f"on {WRITERS} agents", writers), ("on one agent", writers[:1])):
        writes(servers.tmp, conninfo, token, agents, 2)
        measured[name] = [writes(servers.tmp, conninfo, token, agents, seconds) for _ in range(runs)]
        print(json.dumps({"case": f"{WRITERS} writers {name}", "versions_per_s": [round(r) for r in measured[name]]}),
              flush=True)  # fmt: skip
    print(f"\n| {WRITERS} writers | versions/s, median (runs) | gapless, none lost, no error |")
    print("|---|---|---|")
    for name, rates in measured.items():
        print(f"| {name} | **{statistics.median(rates):,.0f}** ({', '.join(f'{r:,.0f}' for r in rates)}) | yes |")
    print(f"\nCPU time stolen by the hypervisor during the measurements: {stolen(started, cpu_times()):.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
