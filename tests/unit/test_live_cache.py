"""The live cache's promise: it never serves an answer older than a change whose notice it has received, nor
anything at all while it is detached. Examples first, then a state machine that interleaves writes, notices,
reads racing them, and dropped feeds."""

import asyncio
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, rule

from application.live_cache import ENTRY_OVERHEAD, MAX_CHANGES_REMEMBERED, NO_TICKET, LiveCache
from domain.blueprints import LivePrompt
from domain.roles import Principal, Role

ORG = UUID(int=1)
OTHER_ORG = UUID(int=2)
AGENT = UUID(int=10)
T = datetime(2026, 1, 1, tzinfo=UTC)


def live(
    agent_id: UUID = AGENT, version: int = 1, prompt: str = "You are helpful.", label: str = "production"
) -> LivePrompt:
    return LivePrompt(
        agent_id=agent_id, blueprint_id=UUID(int=1000 + version), version=version,
        compiled_system_prompt=prompt, compiled_at=T, label=label,
    )  # fmt: skip


def attached(**limits: Any) -> LiveCache:
    cache = LiveCache(**limits)
    cache.attach()
    return cache


WHO = Principal(org_id=ORG, user_id="u", role=Role.MEMBER)


def test_a_detached_cache_keeps_and_serves_nothing() -> None:
    cache = LiveCache()
    assert cache.ticket() == NO_TICKET
    cache.keep_prompt(cache.ticket(), ORG, live())
    cache.keep_principal(cache.ticket(), b"h", WHO, read_at=cache.now())
    assert cache.prompt(ORG, AGENT) is None
    assert cache.principal(b"h") is None


def test_an_attached_cache_serves_what_was_kept_to_the_same_organization_only() -> None:
    cache = attached()
    cache.keep_prompt(cache.ticket(), ORG, live())
    assert cache.prompt(ORG, AGENT) == live()
    assert cache.prompt(OTHER_ORG, AGENT) is None


def test_a_change_forgets_the_agent_and_refuses_answers_read_before_it() -> None:
    cache = attached()
    cache.keep_prompt(cache.ticket(), ORG, live(version=1))
    before = cache.ticket()  # a read starts, sees version 1 ...
    cache.agent_changed(AGENT)  # ... version 2 goes live and its notice arrives first
    assert cache.prompt(ORG, AGENT) is None
    cache.keep_prompt(before, ORG, live(version=1))  # the late answer is dropped
    assert cache.prompt(ORG, AGENT) is None
    cache.keep_prompt(cache.ticket(), ORG, live(version=2))
    assert cache.prompt(ORG, AGENT) == live(version=2)


def test_a_change_to_another_agent_does_not_refuse_this_one() -> None:
    cache = attached()
    before = cache.ticket()
    cache.agent_changed(UUID(int=11))
    cache.keep_prompt(before, ORG, live())
    assert cache.prompt(ORG, AGENT) == live()


def test_detaching_forgets_everything_and_answers_read_before_a_reattach_are_refused() -> None:
    cache = attached()
    cache.keep_prompt(cache.ticket(), ORG, live())
    cache.keep_principal(cache.ticket(), b"h", WHO, read_at=cache.now())
    before = cache.ticket()
    cache.detach()
    assert cache.prompt(ORG, AGENT) is None
    assert cache.principal(b"h") is None
    cache.attach()
    cache.keep_prompt(before, ORG, live())  # read while notices may have been missed
    assert cache.prompt(ORG, AGENT) is None


def test_a_token_change_forgets_every_principal_and_refuses_older_answers() -> None:
    cache = attached()
    cache.keep_principal(cache.ticket(), b"a", WHO, read_at=cache.now())
    before = cache.ticket()
    cache.tokens_changed()
    assert cache.principal(b"a") is None
    cache.keep_principal(before, b"b", WHO, read_at=cache.now())
    assert cache.principal(b"b") is None
    cache.keep_principal(cache.ticket(), b"b", WHO, read_at=cache.now())
    assert cache.principal(b"b") == WHO


def test_prompts_are_bounded_by_size_least_recently_used_out_first() -> None:
    cache = attached(max_prompt_bytes=3 * (1000 + 200))
    for n in range(3):
        cache.keep_prompt(cache.ticket(), ORG, live(UUID(int=n), prompt="x" * 1000))
    assert cache.prompt(ORG, UUID(int=0)) is not None  # now the most recently used
    cache.keep_prompt(cache.ticket(), ORG, live(UUID(int=3), prompt="x" * 1000))
    assert cache.prompt(ORG, UUID(int=1)) is None
    assert all(cache.prompt(ORG, UUID(int=n)) for n in (0, 2, 3))
    assert cache.sizes == (3, 3 * 1200, 0)
    cache.keep_prompt(cache.ticket(), ORG, live(UUID(int=4), prompt="x" * 10_000))  # larger than the whole cache
    assert cache.prompt(ORG, UUID(int=4)) is None
    assert cache.sizes[0] == 3


def test_principals_are_bounded_by_count() -> None:
    cache = attached(max_tokens=2)
    for key in (b"a", b"b", b"c"):
        cache.keep_principal(cache.ticket(), key, WHO, read_at=cache.now())
    assert [cache.principal(k) is not None for k in (b"a", b"b", b"c")] == [False, True, True]


def test_an_unknown_notice_forgets_everything() -> None:
    cache = attached()
    cache.keep_prompt(cache.ticket(), ORG, live())
    before = cache.ticket()
    cache.reset()
    assert cache.prompt(ORG, AGENT) is None
    cache.keep_prompt(before, ORG, live())
    assert cache.prompt(ORG, AGENT) is None
    assert cache.attached


def test_a_principal_is_kept_for_its_lifetime_only_notice_or_not() -> None:
    now = [100.0]
    cache = attached(principal_ttl_s=30, monotonic=lambda: now[0])
    cache.keep_principal(cache.ticket(), b"a", WHO, read_at=cache.now())
    now[0] += 29.9
    assert cache.principal(b"a") == WHO
    now[0] += 0.1
    assert cache.principal(b"a") is None  # asked again, it is read afresh, and a revocation then shows
    assert cache.sizes[2] == 0
    cache.keep_principal(cache.ticket(), b"a", WHO, read_at=cache.now())
    assert cache.principal(b"a") == WHO


def test_a_principals_lifetime_counts_from_before_it_was_read_however_slow_the_read() -> None:
    now = [100.0]
    cache = attached(principal_ttl_s=30, monotonic=lambda: now[0])
    ticket, read_at = cache.ticket(), cache.now()
    now[0] += 10  # the database took 10 s to answer (a revocation may have happened meanwhile)
    cache.keep_principal(ticket, b"a", WHO, read_at=read_at)
    now[0] += 19.9
    assert cache.principal(b"a") == WHO
    now[0] += 0.1
    assert cache.principal(b"a") is None


def test_keeping_a_principal_again_evicts_nobody() -> None:
    cache = attached(max_tokens=2)
    for key in (b"a", b"b", b"b"):
        cache.keep_principal(cache.ticket(), key, WHO, read_at=cache.now())
    assert cache.principal(b"a") == WHO


def test_a_lifetime_of_zero_keeps_no_principal() -> None:
    cache = attached(principal_ttl_s=0)
    cache.keep_principal(cache.ticket(), b"a", WHO, read_at=cache.now())
    assert cache.principal(b"a") is None


def test_the_changes_remembered_for_reads_in_flight_are_bounded_and_forgetting_them_refuses_those_reads() -> None:
    cache = attached()
    before = cache.ticket()
    for n in range(MAX_CHANGES_REMEMBERED + 5):
        cache.agent_changed(UUID(int=100 + n))
    assert len(cache._agent_changed_at) <= MAX_CHANGES_REMEMBERED
    cache.keep_prompt(before, ORG, live())  # read before changes that may have been forgotten: not kept
    assert cache.prompt(ORG, AGENT) is None
    cache.keep_prompt(cache.ticket(), ORG, live())
    assert cache.prompt(ORG, AGENT) == live()


def test_prompt_sizes_count_utf8_bytes() -> None:
    cache = attached(max_prompt_bytes=10_000)
    cache.keep_prompt(cache.ticket(), ORG, live(prompt="é" * 1000))  # 1,000 characters, 2,000 bytes
    assert cache.sizes[1] == 2000 + ENTRY_OVERHEAD
    cache.keep_prompt(cache.ticket(), ORG, live(UUID(int=11), prompt="漢" * 3000))  # 9,000 bytes: one must go
    assert cache.prompt(ORG, AGENT) is None
    assert cache.sizes == (1, 9000 + ENTRY_OVERHEAD, 0)


# -- labels ------------------------------------------------------------------------------------------------------


def test_each_label_of_an_agent_is_kept_and_served_on_its_own() -> None:
    cache = attached()
    cache.keep_prompt(cache.ticket(), ORG, live(version=1))
    cache.keep_prompt(cache.ticket(), ORG, live(version=2, label="staging"))

    assert cache.prompt(ORG, AGENT) == live(version=1)
    assert cache.prompt(ORG, AGENT, "production") == live(version=1)
    assert cache.prompt(ORG, AGENT, "staging") == live(version=2, label="staging")
    assert cache.prompt(ORG, AGENT, "canary") is None
    assert cache.prompt(OTHER_ORG, AGENT, "staging") is None
    assert cache.sizes[0] == 2


def test_keeping_a_label_again_replaces_it_and_counts_its_bytes_once() -> None:
    cache = attached()
    cache.keep_prompt(cache.ticket(), ORG, live(version=1, prompt="x" * 100, label="staging"))
    cache.keep_prompt(cache.ticket(), ORG, live(version=2, prompt="y" * 300, label="staging"))

    assert cache.prompt(ORG, AGENT, "staging") == live(version=2, prompt="y" * 300, label="staging")
    assert cache.sizes == (1, 300 + ENTRY_OVERHEAD, 0)


def test_a_change_of_an_agent_drops_every_label_of_it_and_nothing_of_another() -> None:
    cache = attached()
    other = UUID(int=11)
    for label in ("production", "staging", "latest"):
        cache.keep_prompt(cache.ticket(), ORG, live(label=label, prompt="p" * 10))
        cache.keep_prompt(cache.ticket(), ORG, live(other, label=label, prompt="p" * 10))

    cache.agent_changed(AGENT)

    assert [cache.prompt(ORG, AGENT, label) for label in ("production", "staging", "latest")] == [None] * 3
    assert all(cache.prompt(ORG, other, label) for label in ("production", "staging", "latest"))
    assert cache.sizes == (3, 3 * (10 + ENTRY_OVERHEAD), 0)
    cache.agent_changed(AGENT)  # nothing of it is held any more: still fine
    assert cache.sizes[0] == 3


def test_eviction_of_some_labels_of_an_agent_keeps_what_its_change_must_drop_right() -> None:
    entry = 1000 + ENTRY_OVERHEAD
    cache = attached(max_prompt_bytes=3 * entry)
    other = UUID(int=11)
    cache.keep_prompt(cache.ticket(), ORG, live(label="production", prompt="x" * 1000))
    cache.keep_prompt(cache.ticket(), ORG, live(label="staging", prompt="x" * 1000))
    cache.keep_prompt(cache.ticket(), ORG, live(other, prompt="x" * 1000))
    cache.keep_prompt(cache.ticket(), ORG, live(other, label="staging", prompt="x" * 1000))  # production goes

    assert cache.prompt(ORG, AGENT, "production") is None
    assert cache.prompt(ORG, AGENT, "staging") is not None
    cache.agent_changed(AGENT)  # drops staging, the one label of it still held
    assert cache.sizes == (2, 2 * entry, 0)

    cache.keep_prompt(cache.ticket(), ORG, live(label="canary", prompt="x" * 1000))
    cache.keep_prompt(cache.ticket(), ORG, live(label="latest", prompt="x" * 1000))  # other's production goes
    cache.keep_prompt(cache.ticket(), ORG, live(label="edge", prompt="x" * 1000))  # and its staging: nothing of it
    assert [cache.prompt(ORG, other, label) for label in ("production", "staging")] == [None, None]
    cache.agent_changed(other)  # nothing of it is held: nothing to drop, nothing breaks
    assert cache.sizes == (3, 3 * entry, 0)
    cache.keep_prompt(cache.ticket(), ORG, live(other, prompt="x" * 1000))  # AGENT's canary goes
    cache.agent_changed(AGENT)
    assert cache.sizes == (1, entry, 0)
    assert cache.prompt(ORG, other) is not None


def test_a_read_in_flight_when_another_label_moved_is_refused_too() -> None:
    cache = attached()
    before = cache.ticket()  # a read of staging starts ...
    cache.agent_changed(AGENT)  # ... any label of the agent moves (the notice names only the agent)
    cache.keep_prompt(before, ORG, live(label="staging"))
    assert cache.prompt(ORG, AGENT, "staging") is None


# -- watches -----------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_a_change_of_its_agent_wakes_a_watch_and_counts_it_out() -> None:
    cache = attached()
    mine, again, others = cache.watch(AGENT), cache.watch(AGENT), cache.watch(UUID(int=11))
    assert mine is not None
    assert again is not None
    assert others is not None
    assert cache.watching == 3

    cache.agent_changed(AGENT)

    assert (mine.done(), again.done(), others.done()) == (True, True, False)
    assert mine.result() is None
    assert cache.watching == 1
    cache.tokens_changed()  # a token's change says nothing about a prompt
    assert not others.done()


@pytest.mark.anyio
@pytest.mark.parametrize("end", ["detach", "reset", "attach"])
async def test_detaching_resetting_or_attaching_again_wakes_every_watch(end: str) -> None:
    cache = attached()
    watches = [cache.watch(AGENT), cache.watch(UUID(int=11))]

    getattr(cache, end)()

    assert [w is not None and w.done() and not w.cancelled() for w in watches] == [True, True]
    assert cache.watching == 0


@pytest.mark.anyio
async def test_a_detached_cache_takes_no_watch() -> None:
    cache = LiveCache()
    assert cache.watch(AGENT) is None
    cache.attach()
    cache.detach()
    assert cache.watch(AGENT) is None
    assert cache.watching == 0


@pytest.mark.anyio
async def test_past_max_watchers_no_watch_is_taken_until_one_is_given_back() -> None:
    cache = attached(max_watchers=2)
    first, second = cache.watch(AGENT), cache.watch(UUID(int=11))
    assert first is not None
    assert second is not None

    assert cache.watch(AGENT) is None
    assert cache.watching == 2
    cache.unwatch(AGENT, first)
    third = cache.watch(AGENT)
    assert third is not None
    cache.agent_changed(UUID(int=11))
    assert cache.watch(UUID(int=12)) is not None
    assert cache.watching == 2


@pytest.mark.anyio
async def test_giving_back_a_watch_that_timed_out_counts_it_out_once_and_cancels_it() -> None:
    cache = attached()
    held, other = cache.watch(AGENT), cache.watch(AGENT)
    assert held is not None
    assert other is not None
    done, _ = await asyncio.wait({held}, timeout=0)
    assert not done

    cache.unwatch(AGENT, held)
    cache.unwatch(AGENT, held)  # given back twice (a retry, a finally): counted out once

    assert held.cancelled()
    assert cache.watching == 1
    cache.agent_changed(AGENT)
    assert (other.done(), cache.watching) == (True, 0)


@pytest.mark.anyio
async def test_giving_back_a_woken_watch_changes_no_count() -> None:
    cache = attached()
    woken = cache.watch(AGENT)
    assert woken is not None
    cache.agent_changed(AGENT)
    newer = cache.watch(AGENT)  # the watcher read the change and watches again
    assert newer is not None

    cache.unwatch(AGENT, woken)

    assert (cache.watching, newer.done()) == (1, False)
    cache.unwatch(AGENT, newer)
    assert cache.watching == 0


@pytest.mark.anyio
@pytest.mark.parametrize("ended", ["cancelled", "done"])
async def test_a_watch_ended_by_someone_else_is_still_counted_out_once(ended: str) -> None:
    cache = attached()
    held, other = cache.watch(AGENT), cache.watch(AGENT)
    assert held is not None
    assert other is not None
    if ended == "cancelled":
        held.cancel()  # the task awaiting it was cancelled: the client went away
    else:
        held.set_result(None)

    cache.unwatch(AGENT, held)
    assert cache.watching == 1
    cache.agent_changed(AGENT)  # wakes the other one; the ended one is not counted out again
    assert cache.watching == 0
    assert cache.watch(AGENT) is not None


@pytest.mark.anyio
async def test_a_watch_cancelled_but_not_given_back_is_counted_out_by_the_change_that_finds_it() -> None:
    cache = attached()
    held = cache.watch(AGENT)
    assert held is not None
    held.cancel()

    cache.agent_changed(AGENT)

    assert cache.watching == 0
    cache.unwatch(AGENT, held)
    assert cache.watching == 0


AGENTS = [UUID(int=n) for n in range(1, 4)]
LABELS = ("production", "staging")
KEYS = [(agent, label) for agent in AGENTS for label in LABELS]
Key = tuple[UUID, str]


class CacheAgainstADatabase(RuleBasedStateMachine):
    """A model database whose agents' labels move; notices of changes (they name only the agent) queue up and arrive
    later, or are lost with the feed. Whatever the interleaving, a served prompt is never older than a delivered
    notice, and is the prompt of the label asked for."""

    reads = Bundle("reads")

    def __init__(self) -> None:
        super().__init__()
        self.cache = LiveCache(max_prompt_bytes=2 * 1300)  # room for two of six: eviction takes part too
        self.db = dict.fromkeys(KEYS, 1)  # (agent, label) -> the version it names
        self.pending: list[Key] = []  # notices sent, not yet received, in commit order (what changed, for the model)
        self.known = dict.fromkeys(KEYS, 1)  # the newest version the cache was told of (or saw at attach)

    @rule(key=st.sampled_from(KEYS))
    def change(self, key: Key) -> None:
        self.db[key] += 1
        self.pending.append(key)

    @rule(key=st.sampled_from(KEYS))
    def change_here(self, key: Key) -> None:
        """This process committed it: it forgets at once, and the notice comes later as well."""
        self.db[key] += 1
        self.pending.append(key)
        self.cache.agent_changed(key[0])
        self.known[key] = self.db[key]

    @rule()
    def deliver(self) -> None:
        if self.pending:
            key = self.pending.pop(0)
            self.cache.agent_changed(key[0])
            self.known[key] = max(self.known[key], self._version_when_sent(key))

    def _version_when_sent(self, key: Key) -> int:
        # Later changes of the same label are still pending: the delivered one is older by that many.
        return self.db[key] - self.pending.count(key)

    @rule()
    def drop_feed(self) -> None:
        self.cache.detach()
        self.pending.clear()

    @rule()
    def reattach(self) -> None:
        if not self.cache.attached:
            self.cache.attach()
            self.known = dict(self.db)  # every later change is reported

    @rule(target=reads, key=st.sampled_from(KEYS))
    def start_read(self, key: Key) -> tuple[int, Key, int]:
        return self.cache.ticket(), key, self.db[key]

    @rule(read=reads)
    def finish_read(self, read: tuple[int, Key, int]) -> None:
        ticket, (agent, label), version = read
        self.cache.keep_prompt(ticket, ORG, live(agent, version, prompt="p" * 1000, label=label))

    @invariant()
    def never_older_than_a_delivered_notice(self) -> None:
        for agent, label in KEYS:
            served = self.cache.prompt(ORG, agent, label)
            if served is None:
                continue
            assert self.cache.attached
            assert served.label == label
            assert served.version >= self.known[(agent, label)], (agent, label, served.version, self.known)
            assert served.version <= self.db[(agent, label)]

    @invariant()
    def the_bytes_held_are_those_of_the_prompts_held(self) -> None:
        held = [self.cache.prompt(ORG, agent, label) for agent, label in KEYS]
        count, size, _ = self.cache.sizes
        assert count == sum(p is not None for p in held)
        assert size == count * (1000 + ENTRY_OVERHEAD) <= self.cache.max_prompt_bytes


TestCacheAgainstADatabase = CacheAgainstADatabase.TestCase
TestCacheAgainstADatabase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
