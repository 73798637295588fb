"""Sample blueprint documents and the callers of one organization, shared by the contract suite and the unit tests."""

import copy
from collections.abc import Iterable
from typing import Any, Final

import msgspec

from application.blueprints import ListedVersion
from application.deps import Deps
from domain.blueprints import BlueprintVersion
from domain.roles import Principal, Role
from entrypoints.http.examples import SHOP_BUDDY_FILE
from tests.contract.conftest import principal
from tests.doubles import FixedClock

# The design's example (the golden prompt test compiles the same file).
SHOP_BUDDY: Final[dict[str, Any]] = msgspec.json.decode(SHOP_BUDDY_FILE.read_bytes())


def shop_buddy(name: str = "Shop Buddy") -> dict[str, Any]:
    """A fresh, compilable document (nobody else holds it), its identity named `name`."""
    doc = copy.deepcopy(SHOP_BUDDY)
    doc["identity"]["name"] = name
    return doc


def missing_identity_name() -> dict[str, Any]:
    """Well shaped, so it is stored as a draft, but it cannot compile: identity.name is required."""
    doc = shop_buddy()
    del doc["identity"]["name"]
    return doc


def with_four_violations() -> dict[str, Any]:
    """Well shaped, and breaks four compile rules at once."""
    doc = shop_buddy()
    doc["identity"]["role"] = "   "
    del doc["identity"]["primary_purpose"]
    doc["tools"][0]["purpose"] = ""
    del doc["test_scenarios"][0]["expected"]
    return doc


FOUR_VIOLATION_FIELDS: Final = frozenset(
    {"identity.role", "identity.primary_purpose", "tools[0].purpose", "test_scenarios[0].expected"}
)


def wrong_typed() -> dict[str, Any]:
    """Two known sections of the wrong type: no version may be written from it."""
    return {"identity": "Shop Buddy", "tools": {"name": "inventory_lookup"}}


class Team(msgspec.Struct, frozen=True, kw_only=True):
    """One caller of each role in one organization."""

    owner: Principal
    admin: Principal
    member: Principal

    @property
    def managers(self) -> tuple[Principal, Principal]:
        return (self.owner, self.admin)

    @property
    def everyone(self) -> tuple[Principal, Principal, Principal]:
        return (self.owner, self.admin, self.member)


async def team(deps: Deps, org: str) -> Team:
    return Team(
        owner=await principal(deps, org, f"{org}-owner", Role.OWNER),
        admin=await principal(deps, org, f"{org}-admin", Role.ADMIN),
        member=await principal(deps, org, f"{org}-member", Role.MEMBER),
    )


def clock_of(deps: Deps) -> FixedClock:
    """The contract suite's clock: it moves only when a test says so."""
    assert isinstance(deps.clock, FixedClock)
    return deps.clock


def wholes(items: Iterable[ListedVersion]) -> list[BlueprintVersion]:
    """The whole versions of a page listed with `documents=True`."""
    found = [item.whole for item in items]
    assert None not in found, "listed without documents"
    return [version for version in found if version is not None]
