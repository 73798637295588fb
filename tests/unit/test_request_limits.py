"""The token buckets behind the request limits (entrypoints/http/limits.py): what a key may spend, and how memory
stays bounded however many keys come."""

from hypothesis import given
from hypothesis import strategies as st

from entrypoints.http import limits
from entrypoints.http.limits import Buckets


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@given(rate=st.floats(0.1, 1000), burst=st.integers(1, 50), steps=st.lists(st.floats(0, 5), min_size=1, max_size=40))
def test_a_key_never_spends_more_than_its_burst_plus_what_the_rate_refilled(
    rate: float, burst: int, steps: list[float]
) -> None:
    clock = Clock()
    buckets = Buckets(rate, burst, clock=clock)
    taken = 0
    for step in steps:
        clock.now += step
        while buckets.take("k") == 0:
            taken += 1
        assert 0 < buckets.wait("k") <= 1 / rate + 1e-9
    assert taken <= burst + rate * clock.now + 1


def test_the_wait_is_the_time_to_one_token_and_other_keys_are_untouched() -> None:
    clock = Clock()
    buckets = Buckets(2, 2, clock=clock)
    assert [buckets.take("a"), buckets.take("a")] == [0, 0]
    assert buckets.take("a") == 0.5
    assert buckets.wait("b") == 0
    assert buckets.take("b") == 0
    clock.now += 0.25
    assert buckets.take("a") == 0.25
    clock.now += 0.25
    assert buckets.take("a") == 0


def test_memory_stays_bounded_the_idle_keys_going_first() -> None:
    clock = Clock()
    buckets = Buckets(1, 1, clock=clock)
    for n in range(limits.MAX_KEYS):
        buckets.take(n)
    clock.now += 0.5  # none has refilled: all busy
    buckets.take("busy")
    assert len(buckets) == 1, "all were busy: all were forgotten, rather than grow"
    for n in range(limits.MAX_KEYS - 1):
        buckets.take(n)
    clock.now += 2  # all refilled but the one taken below
    buckets.take("recent")
    clock.now += 0.1
    buckets.take("new")
    assert len(buckets) == 2  # the idle ones were dropped when "recent" came
    assert buckets.take("recent") > 0
