"""One error tree for the whole service, grouped by meaning; entrypoints map the groups, never the leaves."""

from typing import Any
from uuid import UUID


class DomainError(Exception):
    """Base of every error a caller may see; `extra()` is the data safe to show them."""

    def extra(self) -> dict[str, Any]:
        return {}


class NotFound(DomainError):
    """Unknown, or owned by another organization: the two are indistinguishable on purpose."""


class Conflict(DomainError):
    """The request is well formed but the current state forbids it."""


class Forbidden(DomainError):
    """The caller's role is too low."""


class Invalid(DomainError):
    """The content is well formed but breaks a rule."""


class RoleTooLow(Forbidden):
    def __init__(self, role: str, needed: str) -> None:
        super().__init__(f"role {role!r} may not do this; it needs {needed}")
        self.role = role
        self.needed = needed


class TokenNotFound(NotFound):
    def __init__(self, token_id: UUID) -> None:
        super().__init__(f"no token {token_id}")
        self.token_id = token_id
