"""What the hot path serves from memory: the live prompt of an agent and the principal of a token.

A runtime fetches the live prompt on every conversation; asking the database each time costs a driver round trip
per request (see BENCHMARKS.md). So each process keeps what it read, and is told of every change:

- The cache serves nothing until it is *attached*: whoever attaches it (the PostgreSQL change feed) promises to
  call `agent_changed` / `tokens_changed` for every change committed from then on, in this process or any other.
  When that promise breaks (the listening connection drops), `detach()` drops everything and every read goes to
  the database until the next `attach()`. The use cases also call them after their own commits, so a process
  reads its own writes without waiting for the notice.
- A read that misses takes a `ticket()` before it asks the database. Its answer is kept only if nothing about that
  key was invalidated after the ticket was taken: an answer read before a change must not outlive the change's
  notice, whichever arrives first.
- A principal is kept for at most `principal_ttl_s`, notice or not: a revocation written where no trigger fires
  (a restore, replica mode, `DISABLE TRIGGER`) still takes effect within that bound.

A watch (`watch`) is a future that is done at the next change of its agent, or when the cache detaches or resets:
a runtime's `?wait=` request holds one while the label it follows stays put (application/blueprints.py). When a
label moves, every watch of it wakes at once and wants the new prompt, which the move dropped from the cache: the
first to miss reads it, the others await that read instead of each asking the database (`ReadsInFlight`; a
principal whose lifetime ended is read once too). A change drops the agent's reads in flight (a token change, every
principal read), so a request that starts after the notice never joins a read that began before it. `close_watches`
ends every watch and admits no new one: a worker that is stopping answers its watches at once rather than holding
its stop for them.

Everything here runs on one event loop, and only `ReadsInFlight.share` awaits (the read it shares), so no lock is
needed.
"""

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final, Generic, TypeVar
from uuid import UUID

from domain.blueprints import LivePrompt
from domain.labels import PRODUCTION
from domain.roles import Principal

log = logging.getLogger(__name__)

NO_TICKET: Final = -1  # taken while detached: nothing read with it is kept
DEFAULT_PROMPT_MB: Final = 64
DEFAULT_TOKENS: Final = 10_000
DEFAULT_PRINCIPAL_TTL_S: Final = 30.0
# Agents whose last change is remembered for reads in flight. Past this, the table is emptied and every read in
# flight is refused (refusing to keep a read is always safe), so a burst of changes costs bounded memory.
MAX_CHANGES_REMEMBERED: Final = 10_000
ENTRY_OVERHEAD: Final = 200  # bytes, about what the record around a cached prompt costs
DEFAULT_MAX_WATCHERS: Final = 10_000  # watches held at once per process; past this a watch is answered at once
USE_NOTED_EVERY_S: Final = 60.0  # a token's last_used_at is written at most this often per process

PromptKey = tuple[UUID, str]  # (agent, label)
ReadKey = tuple[UUID, UUID, str]  # (organization, agent, label)
K = TypeVar("K")
T = TypeVar("T")


class ReadsInFlight(Generic[K, T]):
    """Reads of the database by what they read: a request that needs what another is reading now awaits that read."""

    def __init__(self) -> None:
        self._reads: dict[K, asyncio.Future[T]] = {}

    async def share(self, key: K, read: Callable[[], Awaitable[T]]) -> T:
        """`read()`'s answer (or error), read once for every caller that asks for `key` while it runs."""
        if (shared := self._reads.get(key)) is not None:
            await asyncio.wait({shared})
            if not shared.cancelled():  # its reader was cancelled (a stop): read for this caller instead
                return shared.result()
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._reads[key] = future
        try:
            found = await read()
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: nobody may be waiting for it
            raise
        else:
            future.set_result(found)
            return found
        finally:
            if self._reads.get(key) is future:
                del self._reads[key]

    def forget(self, which: Callable[[K], bool] | None = None) -> None:
        """Later callers read afresh (those awaiting a forgotten read still get it); `which`: only those keys."""
        for key in [key for key in self._reads if which is None or which(key)]:
            del self._reads[key]


class LiveCache:
    """Live prompts by agent and label (bounded by their total size in UTF-8, least recently used out first) and
    principals by the SHA-256 of their token's secret (bounded by count and by age). Unknown or revoked tokens and
    agents with nothing live are never cached: they are answered by the database."""

    def __init__(
        self,
        *,
        max_prompt_bytes: int = DEFAULT_PROMPT_MB * 1024 * 1024,
        max_tokens: int = DEFAULT_TOKENS,
        principal_ttl_s: float = DEFAULT_PRINCIPAL_TTL_S,
        max_watchers: int = DEFAULT_MAX_WATCHERS,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_prompt_bytes = max_prompt_bytes
        self.max_tokens = max_tokens
        self.principal_ttl_s = principal_ttl_s
        self.max_watchers = max_watchers
        self._monotonic = monotonic
        self._attached = False
        self._clock = 0  # advances on every invalidation, attach and detach
        self._valid_from = 0  # tickets older than this are refused
        self._prompts: OrderedDict[PromptKey, tuple[UUID, LivePrompt, int]] = OrderedDict()  # -> (org, prompt, size)
        self._labels_held: dict[UUID, set[str]] = {}  # agent -> the labels whose prompt is held
        self._prompt_bytes = 0
        self._watches: dict[UUID, set[asyncio.Future[None]]] = {}
        self._watch_count = 0
        self._watches_closed = False
        self.prompt_reads: ReadsInFlight[ReadKey, LivePrompt] = ReadsInFlight()
        self.principal_reads: ReadsInFlight[bytes, Principal | None] = ReadsInFlight()
        self._principals: dict[bytes, tuple[Principal, float]] = {}  # secret hash -> (principal, kept until)
        self._agent_changed_at: dict[UUID, int] = {}
        self._tokens_changed_at = 0
        self._uses: dict[UUID, float] = {}  # token -> when its use was last written
        self._chores: set[asyncio.Task[None]] = set()
        self.prompt_hits = 0  # live prompts asked for and found here (read by the metrics; never reset)
        self.prompt_misses = 0  # and not found: read from the database

    # -- what the change feed calls --------------------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self._attached

    def attach(self) -> None:
        """Changes are now reported; start afresh (whatever was missed while detached is forgotten with the rest)."""
        self._drop_all()
        self._attached = True

    def detach(self) -> None:
        """Changes are no longer reported: forget everything, serve nothing from memory, end every watch."""
        self._attached = False
        self._drop_all()

    def agent_changed(self, agent_id: UUID) -> None:
        """The agent's status, a label or a version's compilation changed."""
        self._clock += 1
        if len(self._agent_changed_at) >= MAX_CHANGES_REMEMBERED:
            self._agent_changed_at.clear()
            self._valid_from = self._clock  # the reads in flight may have missed what was forgotten
        self._agent_changed_at[agent_id] = self._clock
        for label in self._labels_held.pop(agent_id, ()):
            self._prompt_bytes -= self._prompts.pop((agent_id, label))[2]
        self.prompt_reads.forget(lambda key: key[1] == agent_id)
        self._wake(self._watches.pop(agent_id, ()))

    def tokens_changed(self) -> None:
        """A token was revoked or removed. Revocations are rare: every cached principal is dropped."""
        self._clock += 1
        self._tokens_changed_at = self._clock
        self._principals.clear()
        self.principal_reads.forget()

    def reset(self) -> None:
        """Something changed that cannot be pinned to one agent or token."""
        self._drop_all()

    # -- what the use cases call ---------------------------------------------------------------------------------

    def ticket(self) -> int:
        """Take one before reading from the database; give it back with what was read."""
        return self._clock if self._attached else NO_TICKET

    def now(self) -> float:
        """The clock principals' lifetimes are counted on: read it before reading a principal from the database."""
        return self._monotonic()

    def prompt(
        self, org_id: UUID, agent_id: UUID, label: str = PRODUCTION, *, count_miss: bool = True
    ) -> LivePrompt | None:
        """`count_miss=False`: the caller asks again where a miss is counted (the hot path, before the route)."""
        key = (agent_id, label)
        entry = self._prompts.get(key)
        if entry is None or entry[0] != org_id:
            if count_miss:
                self.prompt_misses += 1
            return None
        self.prompt_hits += 1
        self._prompts.move_to_end(key)
        return entry[1]

    def keep_prompt(self, ticket: int, org_id: UUID, live: LivePrompt) -> None:
        agent_id = live.agent_id
        if not self._fresh(ticket) or self._agent_changed_at.get(agent_id, 0) > ticket:
            return
        size = len(live.compiled_system_prompt.encode()) + ENTRY_OVERHEAD
        if size > self.max_prompt_bytes:
            return
        key = (agent_id, live.label)
        old = self._prompts.pop(key, None)
        if old is not None:
            self._prompt_bytes -= old[2]
        self._prompts[key] = (org_id, live, size)
        self._labels_held.setdefault(agent_id, set()).add(live.label)
        self._prompt_bytes += size
        while self._prompt_bytes > self.max_prompt_bytes:
            (evicted_agent, evicted_label), (_, _, evicted) = self._prompts.popitem(last=False)
            self._prompt_bytes -= evicted
            held = self._labels_held[evicted_agent]
            held.discard(evicted_label)
            if not held:
                del self._labels_held[evicted_agent]

    def watch(self, agent_id: UUID) -> "asyncio.Future[None] | None":
        """A future done at the agent's next change (or when the cache detaches or resets); None when changes are
        not followed now, or `max_watchers` are held: the caller answers at once. Give it back with `unwatch`."""
        if not self._attached or self._watches_closed or self._watch_count >= self.max_watchers:
            return None
        future = asyncio.get_running_loop().create_future()
        self._watches.setdefault(agent_id, set()).add(future)
        self._watch_count += 1
        return future

    def unwatch(self, agent_id: UUID, future: "asyncio.Future[None]") -> None:
        waiting = self._watches.get(agent_id)
        if waiting is None or future not in waiting:
            return  # woken, and counted out then
        waiting.discard(future)
        if not waiting:
            del self._watches[agent_id]
        self._watch_count -= 1
        future.cancel()

    @property
    def watching(self) -> int:
        return self._watch_count

    def close_watches(self) -> None:
        """The process is stopping: every watch is answered now, and none is held from now on."""
        self._watches_closed = True
        watches, self._watches = self._watches, {}
        for waiting in watches.values():
            self._wake(waiting)

    def principal(self, secret_hash: bytes) -> Principal | None:
        entry = self._principals.get(secret_hash)
        if entry is None:
            return None
        if self._monotonic() >= entry[1]:
            del self._principals[secret_hash]
            return None
        return entry[0]

    def keep_principal(self, ticket: int, secret_hash: bytes, principal: Principal, *, read_at: float) -> None:
        """`read_at`: `now()` before the read began, so a slow read does not lengthen the lifetime."""
        if not self._fresh(ticket) or self._tokens_changed_at > ticket or self.principal_ttl_s <= 0:
            return
        if secret_hash not in self._principals and len(self._principals) >= self.max_tokens:
            del self._principals[next(iter(self._principals))]  # the oldest
        self._principals[secret_hash] = (principal, read_at + self.principal_ttl_s)

    def use_due(self, token_id: UUID) -> bool:
        """Whether the token's use is to be written now: at most once per USE_NOTED_EVERY_S per token."""
        now = self._monotonic()
        last = self._uses.get(token_id)
        if last is not None and now - last < USE_NOTED_EVERY_S:
            return False
        if token_id not in self._uses and len(self._uses) >= self.max_tokens:
            self._uses.clear()  # a few extra writes, never unbounded memory
        self._uses[token_id] = now
        return True

    def later(self, chore: Coroutine[Any, Any, None]) -> None:
        """Runs `chore` off the caller's critical path (kept referenced until done; an error is logged, not raised)."""
        task = asyncio.get_running_loop().create_task(chore)
        self._chores.add(task)
        task.add_done_callback(self._chore_done)

    async def chores_done(self) -> None:
        """Returns once every chore started so far has ended (a stopping process, and tests, wait for them)."""
        while self._chores:
            await asyncio.wait(set(self._chores))

    def _chore_done(self, task: "asyncio.Task[None]") -> None:
        self._chores.discard(task)
        if not task.cancelled() and (error := task.exception()) is not None:
            log.warning("a background write failed: %s", error)

    # -- for operators and tests ---------------------------------------------------------------------------------

    @property
    def sizes(self) -> tuple[int, int, int]:
        """(prompts, their bytes, principals) held now."""
        return len(self._prompts), self._prompt_bytes, len(self._principals)

    def _fresh(self, ticket: int) -> bool:
        return self._attached and ticket != NO_TICKET and ticket >= self._valid_from

    def _drop_all(self) -> None:
        self._clock += 1
        self._valid_from = self._clock
        self._prompts.clear()
        self._labels_held.clear()
        self._prompt_bytes = 0
        self._principals.clear()
        self._agent_changed_at.clear()
        self.prompt_reads.forget()
        self.principal_reads.forget()
        watches, self._watches = self._watches, {}
        for waiting in watches.values():
            self._wake(waiting)

    def _wake(self, waiting: "set[asyncio.Future[None]] | tuple[()]") -> None:
        self._watch_count -= len(waiting)
        for future in waiting:
            if not future.done():
                future.set_result(None)
