"""One error tree for the whole service, grouped by meaning; entrypoints map the groups, never the leaves."""

from collections.abc import Sequence
from typing import Any, Final
from uuid import UUID

import msgspec


class Violation(msgspec.Struct, frozen=True, kw_only=True):
    """One broken rule of a piece of content: where (`identity.name`, `tools[0].purpose`; "" is the whole) and why."""

    field: str
    message: str


class DomainError(Exception):
    """Base of every error a caller may see; `extra()` is the data safe to show them."""

    def extra(self) -> dict[str, Any]:
        return {}


class NotFound(DomainError):
    """Unknown, or owned by another organization: the two are indistinguishable on purpose."""


class Conflict(DomainError):
    """The request is well formed but the current state forbids it."""


class PreconditionFailed(DomainError):
    """The caller's If-Match names a state the target is no longer in: someone changed it since they read it."""


class Forbidden(DomainError):
    """The caller's role is too low, or its token's scope too narrow, or its organization's quota is reached."""


class Invalid(DomainError):
    """The content is well formed but breaks a rule; `violations` lists every broken rule at once."""

    def __init__(self, message: str, violations: Sequence[Violation] = ()) -> None:
        super().__init__(message)
        self.violations = list(violations)

    def extra(self) -> dict[str, Any]:
        return {"errors": [msgspec.structs.asdict(v) for v in self.violations]} if self.violations else {}


class Malformed(DomainError):
    """A request parameter is unusable (a limit out of range, a cursor we did not issue): the request, not the
    content, is wrong."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message

    def extra(self) -> dict[str, Any]:
        return {"errors": [{"field": self.field, "message": self.message}]}


class Unavailable(DomainError):
    """Storage cannot be reached in time; the caller may retry later."""


# -- not found ------------------------------------------------------------------------------------------------


class AgentNotFound(NotFound):
    def __init__(self, agent_id: UUID) -> None:
        super().__init__(f"no agent {agent_id}")
        self.agent_id = agent_id


class BlueprintNotFound(NotFound):
    def __init__(self, agent_id: UUID, version_id: UUID) -> None:
        super().__init__(f"agent {agent_id} has no blueprint version {version_id}")
        self.agent_id = agent_id
        self.version_id = version_id


class NoLivePrompt(NotFound):
    def __init__(self, agent_id: UUID, label: str) -> None:
        super().__init__(f"agent {agent_id} serves no prompt for {label!r}: it is not active or has no such label")
        self.agent_id = agent_id
        self.label = label


class LabelNotFound(NotFound):
    def __init__(self, agent_id: UUID, name: str) -> None:
        super().__init__(f"agent {agent_id} has no label {name!r}")
        self.agent_id = agent_id
        self.name = name


class TokenNotFound(NotFound):
    def __init__(self, token_id: UUID | None) -> None:
        """`token_id` None: asked for by its secret."""
        super().__init__("no token has this secret" if token_id is None else f"no token {token_id}")
        self.token_id = token_id


class UnknownOrganization(NotFound):
    def __init__(self, name: str) -> None:
        super().__init__(f"no organization named {name!r}")
        self.name = name


class WebhookNotFound(NotFound):
    def __init__(self, endpoint_id: UUID) -> None:
        super().__init__(f"no webhook {endpoint_id}")
        self.endpoint_id = endpoint_id


class DeliveryNotFound(NotFound):
    def __init__(self, endpoint_id: UUID, delivery_id: UUID) -> None:
        super().__init__(f"webhook {endpoint_id} has no delivery {delivery_id}")
        self.endpoint_id = endpoint_id
        self.delivery_id = delivery_id


# -- conflicts ------------------------------------------------------------------------------------------------


class AgentDeleted(Conflict):
    def __init__(self, agent_id: UUID) -> None:
        super().__init__(f"agent {agent_id} is deleted: it stays readable but accepts no changes")
        self.agent_id = agent_id


class VersionNotCompiled(Conflict):
    def __init__(self, version_id: UUID, status: str) -> None:
        super().__init__(
            f"blueprint version {version_id} is {status}; only a compiled version can be activated or labelled"
        )
        self.version_id = version_id
        self.status = status

    def extra(self) -> dict[str, Any]:
        return {"compilation_status": self.status}


class ProductionUndeletable(Conflict):
    def __init__(self, agent_id: UUID) -> None:
        super().__init__(f"agent {agent_id}: 'production' cannot be deleted; deactivate the agent to stop serving it")
        self.agent_id = agent_id


class ProductionAlwaysProtected(Conflict):
    def __init__(self, agent_id: UUID) -> None:
        super().__init__(f"agent {agent_id}: 'production' is always protected")
        self.agent_id = agent_id


class ConcurrentUpdate(Conflict):
    """Another writer changed the same thing at the same moment; retrying the request is safe."""


# -- forbidden ------------------------------------------------------------------------------------------------


class RoleTooLow(Forbidden):
    def __init__(self, role: str, needed: str) -> None:
        super().__init__(f"role {role!r} may not do this; it needs {needed}")
        self.role = role
        self.needed = needed


class ScopeTooNarrow(Forbidden):
    def __init__(self, scope: str) -> None:
        super().__init__(f"a {scope!r}-scope token may only read live prompts and /whoami; this needs scope 'manage'")
        self.scope = scope


QUOTA_NOUNS: Final = {"agents": "agents", "versions": "blueprint versions", "stored_bytes": "bytes of blueprints"}


class QuotaExceeded(Forbidden):
    """The write would take the organization past one of its quotas (domain/quotas.py); `used` is what it holds."""

    def __init__(self, quota: str, *, limit: int, used: int, adding: int) -> None:
        noun = QUOTA_NOUNS[quota]
        if used == limit:
            message = f"the organization has {used} {noun}, its quota"
        elif used > limit:  # the quota was lowered below what it holds
            message = f"the organization has {used} {noun}, over its quota of {limit}"
        else:
            message = f"the organization has {used} {noun}; {adding} more would pass its quota of {limit}"
        super().__init__(message)
        self.quota = quota
        self.limit = limit
        self.used = used

    def extra(self) -> dict[str, Any]:
        return {"quota": self.quota, "limit": self.limit, "used": self.used}


# -- invalid --------------------------------------------------------------------------------------------------


class InvalidAgent(Invalid):
    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__("the agent is invalid", violations)


class InvalidBlueprint(Invalid):
    """The blueprint document breaks the compile rules; every violation is listed."""

    def __init__(self, violations: Sequence[Violation]) -> None:
        super().__init__(f"the blueprint has {len(violations)} violation(s)", violations)


class InvalidSearch(Invalid):
    def __init__(self, message: str) -> None:
        super().__init__(f"query: {message}", [Violation(field="query", message=message)])


class InvalidLabel(Invalid):
    def __init__(self, name: str, message: str, *, field: str = "name") -> None:
        super().__init__(f"label {name!r}: {message}", [Violation(field=field, message=message)])


class LabelChanged(PreconditionFailed):
    def __init__(self, name: str, current: str | None) -> None:
        where = "does not exist" if current is None else f"points at {current}"
        super().__init__(f"label {name!r} {where}, not at the version If-Match names; read it again and retry")
        self.name = name
        self.current = current

    def extra(self) -> dict[str, Any]:
        return {"etag": self.current}


class AgentChanged(PreconditionFailed):
    def __init__(self, agent_id: UUID, current: str) -> None:
        super().__init__(f"agent {agent_id} changed since it was read; read it again and retry with its new ETag")
        self.agent_id = agent_id
        self.current = current

    def extra(self) -> dict[str, Any]:
        return {"etag": self.current}


class IdempotencyKeyReused(Invalid):
    def __init__(self) -> None:
        super().__init__(
            "this Idempotency-Key was used for a different request; use a new key for a new request",
            [Violation(field="Idempotency-Key", message="already used for a different request")],
        )
