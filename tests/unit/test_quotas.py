"""The quota rule (domain/quotas.py): what passes, what is refused, and what a refusal tells the caller."""

from typing import Final

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.errors import Forbidden, QuotaExceeded
from domain.quotas import GIB, Quotas, Usage, document_bytes, ensure_room

FIELDS: Final = ("agents", "versions", "stored_bytes")
counts = st.integers(min_value=0, max_value=2**40)
adding = st.integers(min_value=-(2**20), max_value=2**20)


def test_the_defaults_are_generous() -> None:
    assert Quotas() == Quotas(agents=10_000, versions=1_000_000, stored_bytes=10 * GIB)


@given(
    quotas=st.builds(Quotas, agents=counts, versions=counts, stored_bytes=counts),
    usage=st.builds(Usage, agents=counts, versions=counts, stored_bytes=counts),
    more=st.tuples(adding, adding, adding),
)
def test_a_write_is_refused_exactly_when_something_it_adds_would_pass_its_quota(
    quotas: Quotas, usage: Usage, more: tuple[int, int, int]
) -> None:
    added = dict(zip(FIELDS, more, strict=True))
    passing = [f for f in FIELDS if added[f] > 0 and getattr(usage, f) + added[f] > getattr(quotas, f)]

    if not passing:
        ensure_room(quotas, usage, **added)
        return
    with pytest.raises(QuotaExceeded) as refused:
        ensure_room(quotas, usage, **added)
    first = passing[0]
    assert refused.value.extra() == {"quota": first, "limit": getattr(quotas, first), "used": getattr(usage, first)}


def test_reaching_a_quota_exactly_is_allowed_and_one_more_is_not() -> None:
    quotas = Quotas(agents=3)
    ensure_room(quotas, Usage(agents=2), agents=1)

    with pytest.raises(QuotaExceeded) as refused:
        ensure_room(quotas, Usage(agents=3), agents=1)

    assert str(refused.value) == "the organization has 3 agents, its quota"
    assert isinstance(refused.value, Forbidden)  # answered 403, as a role too low is


def test_an_organization_over_a_lowered_quota_of_agents_still_adds_versions_and_frees_places() -> None:
    quotas = Quotas(agents=2)
    over = Usage(agents=5, versions=1, stored_bytes=10)

    ensure_room(quotas, over, versions=1, stored_bytes=100)
    ensure_room(quotas, over, agents=-1)
    with pytest.raises(QuotaExceeded, match="has 5 agents, over its quota of 2"):
        ensure_room(quotas, over, agents=1)


def test_a_refusal_says_how_much_more_would_not_fit() -> None:
    with pytest.raises(QuotaExceeded) as refused:
        ensure_room(Quotas(stored_bytes=1_000), Usage(stored_bytes=900), stored_bytes=101)

    assert str(refused.value) == "the organization has 900 bytes of blueprints; 101 more would pass its quota of 1000"
    assert refused.value.extra() == {"quota": "stored_bytes", "limit": 1_000, "used": 900}


def test_a_document_counts_the_bytes_of_its_compact_utf8_json() -> None:
    assert document_bytes({"a": "é", "b": [1, 2.5, None]}) == len(b'{"a":"\xc3\xa9","b":[1,2.5,null]}') == 27
    assert document_bytes({}) == 2
