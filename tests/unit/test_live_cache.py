"""The live cache's promise: it never serves an answer older than a change whose notice it has received, nor
anything at all while it is detached. Examples first, then a state machine that interleaves writes, notices,
reads racing them, and dropped feeds."""

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

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


def live(agent_id: UUID = AGENT, version: int = 1, prompt: str = "You are helpful.") -> LivePrompt:
    return LivePrompt(
        agent_id=agent_id, blueprint_id=UUID(int=1000 + version), version=version,
        compiled_system_prompt=prompt, compiled_at=T, label="production",
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


AGENTS = [UUID(int=n) for n in range(1, 4)]


class CacheAgainstADatabase(RuleBasedStateMachine):
    """A model database whose agents' live versions change; notices of changes queue up and arrive later, or are
    lost with the feed. Whatever the interleaving, a served prompt is never older than a delivered notice."""

    reads = Bundle("reads")

    def __init__(self) -> None:
        super().__init__()
        self.cache = LiveCache(max_prompt_bytes=2 * 1300)  # room for two: eviction takes part too
        self.db = dict.fromkeys(AGENTS, 1)  # agent -> live version
        self.pending: list[UUID] = []  # notices sent, not yet received, in commit order
        self.known = dict.fromkeys(AGENTS, 1)  # the newest version the cache was told of (or saw at attach)

    @rule(agent=st.sampled_from(AGENTS))
    def change(self, agent: UUID) -> None:
        self.db[agent] += 1
        self.pending.append(agent)

    @rule(agent=st.sampled_from(AGENTS))
    def change_here(self, agent: UUID) -> None:
        """This process committed it: it forgets at once, and the notice comes later as well."""
        self.db[agent] += 1
        self.pending.append(agent)
        self.cache.agent_changed(agent)
        self.known[agent] = self.db[agent]

    @rule()
    def deliver(self) -> None:
        if self.pending:
            agent = self.pending.pop(0)
            self.cache.agent_changed(agent)
            self.known[agent] = max(self.known[agent], self._version_when_sent(agent))

    def _version_when_sent(self, agent: UUID) -> int:
        # Later changes of the same agent are still pending: the delivered one is older by that many.
        return self.db[agent] - self.pending.count(agent)

    @rule()
    def drop_feed(self) -> None:
        self.cache.detach()
        self.pending.clear()

    @rule()
    def reattach(self) -> None:
        if not self.cache.attached:
            self.cache.attach()
            self.known = dict(self.db)  # every later change is reported

    @rule(target=reads, agent=st.sampled_from(AGENTS))
    def start_read(self, agent: UUID) -> tuple[int, UUID, int]:
        return self.cache.ticket(), agent, self.db[agent]

    @rule(read=reads)
    def finish_read(self, read: tuple[int, UUID, int]) -> None:
        ticket, agent, version = read
        self.cache.keep_prompt(ticket, ORG, live(agent, version, prompt="p" * 1000))

    @invariant()
    def never_older_than_a_delivered_notice(self) -> None:
        for agent in AGENTS:
            served = self.cache.prompt(ORG, agent)
            if served is None:
                continue
            assert self.cache.attached
            assert served.version >= self.known[agent], (agent, served.version, self.known[agent])
            assert served.version <= self.db[agent]


TestCacheAgainstADatabase = CacheAgainstADatabase.TestCase
TestCacheAgainstADatabase.settings = settings(max_examples=300, stateful_step_count=40, deadline=None)
