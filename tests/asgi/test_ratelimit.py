"""Token buckets of the self-service routes: per client, site-wide, bounded, on a clock seam."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from consentlog.asgi.ratelimit import KeyedBuckets, SelfServiceLimits, TokenBucket


class SteppedLimits(SelfServiceLimits):
    """Limits on a clock the test moves."""

    now = 1000.0

    def clock(self) -> float:
        return self.now


def test_bucket_allows_a_burst_then_the_rate() -> None:
    """A bucket lets `burst` requests through at once, then one per 1/rate seconds."""
    bucket = TokenBucket(rate=0.5, burst=3, tokens=3, updated=0.0)
    assert [0.0, 0.0, 0.0] == [bucket.take(0.0) for _ in range(3)]
    assert 2.0 == bucket.take(0.0)
    assert 0.0 == bucket.take(2.0)
    assert 0.0 < bucket.take(2.0)


def test_client_limit_answers_with_whole_seconds_and_refills() -> None:
    """A client past its burst waits; other clients do not; time refills the bucket."""
    limits = SteppedLimits(per_client_rate=0.1, per_client_burst=2)
    assert [0, 0] == [limits.admit("a", reaches_store=True) for _ in range(2)]
    assert 10 == limits.admit("a", reaches_store=True)
    assert 0 == limits.admit("b", reaches_store=True)
    limits.now += 10
    assert 0 == limits.admit("a", reaches_store=True)


def test_site_limit_counts_only_requests_that_reach_the_store() -> None:
    """Requests from many addresses share the site's bucket, unless they carry no identifier."""
    limits = SteppedLimits(site_rate=1.0, site_burst=3)
    assert [0] * 50 == [limits.admit(f"idle-{i}", reaches_store=False) for i in range(50)]
    assert [0, 0, 0] == [limits.admit(f"c-{i}", reaches_store=True) for i in range(3)]
    assert 1 == limits.admit("c-new", reaches_store=True)


@given(st.lists(st.text(max_size=50), max_size=300))
def test_client_buckets_stay_bounded(keys: list[str]) -> None:
    """However many clients ask, at most max_keys buckets are remembered."""
    buckets = KeyedBuckets(rate=1.0, burst=1, max_keys=20)
    for key in keys:
        buckets.take(key, 0.0)
    assert min(20, len(set(keys))) == len(buckets)
