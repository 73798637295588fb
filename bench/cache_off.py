"""(b3) The hot path without its cache: (b)'s load on a serve of its own, identical to the main one but for
`ORG_AGENTS_LIVE_CACHE_MB=0`. Every GET of the live prompt then authenticates its token and reads the prompt with
one indexed SELECT each, through the worker's psycopg pool: what the cache saves."""

import gzip
from collections.abc import Iterable
from pathlib import Path
from typing import Final

from bench.model import CacheOff
from bench.phases import Bench, BenchFailed, expect_ok
from bench.server import running_serve
from bench.staleness import Access, access_routes
from entrypoints.http.live_prompt import ROUTE

CACHE_OFF_ENV: Final = {"ORG_AGENTS_LIVE_CACHE_MB": "0"}


def prompt_answers(entries: Iterable[Access]) -> tuple[int, int]:
    """(GETs of a live prompt, of them answered from memory) among access-log entries."""
    prompts = [entry for entry in entries if entry.route == ROUTE]
    return len(prompts), sum(1 for entry in prompts if entry.from_memory)


def cache_off_phase(
    bench: Bench,
    executable: Path,
    conninfo: str,
    data_dir: Path,
    log_path: Path,
    serve_args: list[str],
    prompt_path: str,
    headers: dict[str, str],
) -> CacheOff:
    """Starts the cache-less serve, loads it like (b), stops it, and checks from its access log that no answer came
    from memory."""
    name = "(b3) GET prompt, live cache off"
    bench.progress(f"(b3) starting org-agents serve with ORG_AGENTS_LIVE_CACHE_MB=0 (log: {log_path})")
    with running_serve(executable, conninfo, data_dir, log_path, serve_args, CACHE_OFF_ENV) as serve:
        expect_ok(serve, [(prompt_path, headers)], name)
        load = bench.http_load(serve, name, prompt_path, connections=bench.options.connections, headers=headers)
    with gzip.open(serve.log_path, "rt", encoding="utf-8", errors="replace") as log:
        logged, from_memory = prompt_answers(access_routes(log.read()).values())
    bench.progress(f"(b3) its access log: {from_memory} of {logged} live-prompt answers came from memory")
    if not logged:
        raise BenchFailed(f"{name}: {serve.log_path} logs no GET of a live prompt")
    if from_memory:
        raise BenchFailed(
            f"{name}: {from_memory} of the {logged} live-prompt answers in {serve.log_path} came from the cache, "
            "which ORG_AGENTS_LIVE_CACHE_MB=0 should have turned off"
        )
    return CacheOff(
        env=dict(CACHE_OFF_ENV),
        prompt=load,
        log_file=serve.log_path.name,
        prompts_logged=logged,
        prompts_from_memory=from_memory,
    )
