"""Request ids the access log makes when a caller sends none: unique in a process and across forked workers."""

import multiprocessing
import re

from entrypoints.http.logs import request_id_of

NO_HEADERS: list[tuple[bytes, bytes]] = []


def _child_id(out: "multiprocessing.queues.SimpleQueue[bytes]") -> None:
    out.put(request_id_of(NO_HEADERS))


def test_made_ids_are_32_hex_digits_and_never_repeat() -> None:
    made = [request_id_of(NO_HEADERS) for _ in range(10_000)]
    assert len(set(made)) == len(made)
    assert all(re.fullmatch(rb"[0-9a-f]{32}", rid) for rid in made)


def test_a_forked_worker_makes_ids_of_its_own() -> None:
    here = request_id_of(NO_HEADERS)
    context = multiprocessing.get_context("fork")
    out: multiprocessing.queues.SimpleQueue[bytes] = context.SimpleQueue()
    child = context.Process(target=_child_id, args=(out,))
    child.start()
    child.join(30)
    there = out.get()
    assert there[:16] != here[:16]  # another prefix, so the counters cannot collide


def test_a_sane_caller_id_is_kept_and_an_odd_one_replaced() -> None:
    assert request_id_of([(b"x-request-id", b"abc-1.2_3")]) == b"abc-1.2_3"
    assert request_id_of([(b"x-request-id", b"no spaces\n")]) != b"no spaces\n"
