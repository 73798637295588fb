"""(f): compiling a large blueprint in process. The document is shop-buddy grown with many long, valid entries."""

import copy
import statistics
import time
from typing import Any, Final

import msgspec

from bench.model import CompileTiming, percentile
from domain.blueprints import MAX_ITEMS, storage_violations
from domain.compiler import compile_blueprint

TARGET_BYTES: Final = 200 * 1024
COMPILES: Final = 50
WARMUP: Final = 5

_PROSE: Final = (
    "linen shirt size stock return window receipt exchange denim jacket boots refund store credit delivery "
    "tracking parcel courier weekend opening hours loyalty points discount code voucher seasonal sale fabric "
    "care washing instructions alterations fitting room gift wrapping online order pickup warehouse"
)
_WORDS: Final = tuple(_PROSE.split(" "))


class InvalidBenchBlueprint(RuntimeError):
    """The generated blueprint does not compile cleanly: the bench would time the wrong thing."""


def _text(seed: int, words: int) -> str:
    """Deterministic varied prose: the same seed, the same text."""
    picked = (_WORDS[(seed * 7 + i * 13 + i * i) % len(_WORDS)] for i in range(words))
    return " ".join(picked).capitalize() + "."


def large_blueprint(base: dict[str, Any], target_bytes: int = TARGET_BYTES) -> dict[str, Any]:
    """`base` plus as many capabilities, knowledge sources and test scenarios as bring its JSON to
    `target_bytes` (each list stays within the service's MAX_ITEMS)."""
    doc = copy.deepcopy(base)
    capabilities: list[Any] = doc.setdefault("capabilities", [])
    sources: list[Any] = doc.setdefault("knowledge_sources", [])
    scenarios: list[Any] = doc.setdefault("test_scenarios", [])
    n = 0
    while len(msgspec.json.encode(doc)) < target_bytes:
        n += 1
        if max(len(capabilities), len(sources), len(scenarios)) >= MAX_ITEMS:
            raise InvalidBenchBlueprint(f"cannot reach {target_bytes} bytes within {MAX_ITEMS} items per list")
        capabilities.append(
            {
                "task": f"Handle request family {n}: {_text(n, 6)}",
                "description": _text(n + 1, 60),
                "examples": [_text(n + 2, 12), _text(n + 3, 14), _text(n + 4, 10)],
            }
        )
        sources.append({"source": f"Store handbook, chapter {n}: {_text(n + 5, 8)}", "type": "document",
                        "update_frequency": "weekly"})  # fmt: skip
        scenarios.append({"question": _text(n + 6, 15), "expected": _text(n + 7, 30)})
    return doc


def time_compiles(doc: dict[str, Any], compiles: int = COMPILES, warmup: int = WARMUP) -> CompileTiming:
    """Compiles `doc` `warmup` times untimed, then `compiles` times timed one by one."""
    first = compile_blueprint(doc)
    if first.violations or first.prompt is None or storage_violations(doc):
        raise InvalidBenchBlueprint(f"the bench's blueprint does not compile cleanly: {first.violations[:3]}")
    for _ in range(warmup):
        compile_blueprint(doc)
    samples = []
    for _ in range(compiles):
        started = time.perf_counter()
        compile_blueprint(doc)
        samples.append((time.perf_counter() - started) * 1000)
    return CompileTiming(
        document_bytes=len(msgspec.json.encode(doc)),
        prompt_chars=len(first.prompt),
        warnings=len(first.warnings),
        compiles=compiles,
        median_ms=statistics.median(samples),
        p95_ms=percentile(samples, 0.95),
        samples_ms=[round(sample, 3) for sample in samples],
    )
