"""The bounded memo for visitor-sent values: entries, bytes, and who gets evicted."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consentlog.consent.cache import BoundedCache


def test_a_value_put_is_found_and_a_discarded_one_is_not() -> None:
    """``get`` returns what ``put`` stored, until it is discarded."""
    cache: BoundedCache[str, int] = BoundedCache(10, 1000)
    cache.put("a", 1, 10)
    assert 1 == cache.get("a")
    cache.discard("a")
    assert None is cache.get("a")
    assert (0, 0) == (len(cache), cache.bytes)


def test_a_value_too_large_for_its_share_is_not_kept() -> None:
    """A value over a sixteenth of the byte budget is not remembered at all."""
    cache: BoundedCache[str, str] = BoundedCache(10, 1600)
    cache.put("big", "x", 101)
    cache.put("fits", "y", 100)
    assert (None, "y") == (cache.get("big"), cache.get("fits"))


def test_returning_keys_survive_a_scan_of_one_off_keys() -> None:
    """Keys used twice are kept while ten times the capacity of new keys pass through."""
    cache: BoundedCache[str, int] = BoundedCache(100, 10**9)
    for i in range(50):
        cache.put(f"regular-{i}", i, 1)
        cache.get(f"regular-{i}")
    for i in range(1000):
        cache.put(f"stranger-{i}", i, 1)
    assert list(range(50)) == [cache.get(f"regular-{i}") for i in range(50)]
    assert 100 == len(cache)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(["put", "get", "discard"]), st.integers(0, 40), st.integers(0, 70)
        )
    )
)
def test_entries_and_bytes_stay_within_bounds(operations: list[tuple[str, int, int]]) -> None:
    """Whatever is put, got or discarded, the cache holds at most its entries and bytes,
    and its byte count is the sum of what it holds."""
    cache: BoundedCache[int, int] = BoundedCache(8, 1024)
    for operation, key, size in operations:
        if operation == "put":
            cache.put(key, size, size)
        elif operation == "get":
            cache.get(key)
        else:
            cache.discard(key)
        assert len(cache) <= 8
        assert cache.bytes <= 1024
    present = {k: cache.get(k) for k in range(41)}
    assert cache.bytes == sum(v for v in present.values() if v is not None)
