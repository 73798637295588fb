"""What the hot path serves from memory: the live prompt of an agent and the principal of a token.

A runtime fetches the live prompt on every conversation; asking the database each time costs a driver round trip
per request (see BENCHMARKS.md). So each process keeps what it read, and is told of every change:

- The cache serves nothing until it is *attached*: whoever attaches it (the PostgreSQL change feed) promises to
  call `agent_changed` / `tokens_changed` for every change committed from then on, in this process or any other.
  When that promise breaks (the listening connection drops), `detach()` drops everything and every read goes to
  the database until the next `attach()`.
- A read that misses takes a `ticket()` before it asks the database. Its answer is kept only if nothing about that
  key was invalidated after the ticket was taken: an answer read before a change must not outlive the change's
  notice, whichever arrives first.

Everything here runs on one event loop and never awaits, so no lock is needed.
"""

from collections import OrderedDict
from typing import Final
from uuid import UUID

from domain.blueprints import LivePrompt
from domain.roles import Principal

NO_TICKET: Final = -1  # taken while detached: nothing read with it is kept
DEFAULT_PROMPT_BYTES: Final = 64 * 1024 * 1024
DEFAULT_TOKENS: Final = 10_000


class LiveCache:
    """Live prompts by agent (bounded by their total size, least recently used out first) and principals by the
    SHA-256 of their token's secret (bounded by count). Unknown or revoked tokens and agents with nothing live are
    never cached: they are answered by the database."""

    def __init__(self, *, max_prompt_bytes: int = DEFAULT_PROMPT_BYTES, max_tokens: int = DEFAULT_TOKENS) -> None:
        self.max_prompt_bytes = max_prompt_bytes
        self.max_tokens = max_tokens
        self._attached = False
        self._clock = 0  # advances on every invalidation, attach and detach
        self._valid_from = 0  # tickets older than the last attach are refused
        self._prompts: OrderedDict[UUID, tuple[UUID, LivePrompt]] = OrderedDict()  # agent -> (org, prompt)
        self._prompt_bytes = 0
        self._principals: dict[bytes, Principal] = {}
        self._agent_changed_at: dict[UUID, int] = {}
        self._tokens_changed_at = 0

    # -- what the change feed calls --------------------------------------------------------------------------------

    @property
    def attached(self) -> bool:
        return self._attached

    def attach(self) -> None:
        """Changes are now reported; start afresh (whatever was missed while detached is forgotten with the rest)."""
        self._drop_all()
        self._attached = True

    def detach(self) -> None:
        """Changes are no longer reported: forget everything and serve nothing from memory."""
        self._attached = False
        self._drop_all()

    def agent_changed(self, agent_id: UUID) -> None:
        """The agent's status, live version or a version's compilation changed."""
        self._clock += 1
        self._agent_changed_at[agent_id] = self._clock
        entry = self._prompts.pop(agent_id, None)
        if entry is not None:
            self._prompt_bytes -= _size(entry[1])

    def tokens_changed(self) -> None:
        """A token was revoked or removed. Revocations are rare: every cached principal is dropped."""
        self._clock += 1
        self._tokens_changed_at = self._clock
        self._principals.clear()

    def reset(self) -> None:
        """Something changed that cannot be pinned to one agent or token."""
        self._drop_all()

    # -- what the use cases call ---------------------------------------------------------------------------------

    def ticket(self) -> int:
        """Take one before reading from the database; give it back with what was read."""
        return self._clock if self._attached else NO_TICKET

    def prompt(self, org_id: UUID, agent_id: UUID) -> LivePrompt | None:
        entry = self._prompts.get(agent_id)
        if entry is None or entry[0] != org_id:
            return None
        self._prompts.move_to_end(agent_id)
        return entry[1]

    def keep_prompt(self, ticket: int, org_id: UUID, live: LivePrompt) -> None:
        agent_id = live.agent_id
        if not self._fresh(ticket) or self._agent_changed_at.get(agent_id, 0) > ticket:
            return
        size = _size(live)
        if size > self.max_prompt_bytes:
            return
        old = self._prompts.pop(agent_id, None)
        if old is not None:
            self._prompt_bytes -= _size(old[1])
        self._prompts[agent_id] = (org_id, live)
        self._prompt_bytes += size
        while self._prompt_bytes > self.max_prompt_bytes:
            _, (_, evicted) = self._prompts.popitem(last=False)
            self._prompt_bytes -= _size(evicted)

    def principal(self, secret_hash: bytes) -> Principal | None:
        return self._principals.get(secret_hash)

    def keep_principal(self, ticket: int, secret_hash: bytes, principal: Principal) -> None:
        if not self._fresh(ticket) or self._tokens_changed_at > ticket:
            return
        if len(self._principals) >= self.max_tokens:
            del self._principals[next(iter(self._principals))]  # the oldest
        self._principals[secret_hash] = principal

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
        self._prompt_bytes = 0
        self._principals.clear()
        self._agent_changed_at.clear()


def _size(live: LivePrompt) -> int:
    return len(live.compiled_system_prompt) + 200  # the prompt, and about what the record around it costs
