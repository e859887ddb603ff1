"""The consent codec: signing, verifying, key rotation, staleness and expiry (no I/O)."""

from __future__ import annotations

import base64
import gc
import tracemalloc

import pytest
from itsdangerous import URLSafeTimedSerializer

from consentlog.consent.decision import NO_COOKIE, ConsentCodec, CookieState

KEY = "decision-test-key-long-enough-012345678"
MAX_AGE = 3600
T0 = 1_800_000_000.0  # a fixed "now", in unix seconds


class Clock:
    """A clock that stands still until a test moves it."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_codec(
    keys: list[str] | None = None, *, revision: int = 1, clock: Clock | None = None
) -> ConsentCodec:
    return ConsentCodec(
        keys or [KEY], policy_revision=revision, max_age=MAX_AGE, clock=clock or Clock()
    )


def signed(payload: object) -> str:
    """``payload`` signed now as the codec signs (same key and salt), whatever its shape."""
    return URLSafeTimedSerializer([KEY], salt="consentlog.consent").dumps(payload)


def on_the_wall_clock() -> ConsentCodec:
    """A codec on the real clock, to verify what ``signed`` signed just now."""
    return ConsentCodec([KEY], policy_revision=1, max_age=MAX_AGE)


def test_a_signed_decision_verifies_as_itself() -> None:
    """A cookie the codec signed loads back as the same decision, present and fresh."""
    codec = make_codec()
    decision = codec.new_decision(["analytics"], "banner")
    state = codec.loads(codec.dumps(decision))
    assert CookieState(decision, present=True, previous_id=decision.consent_id) == state


def test_a_new_decision_is_taken_now_under_the_current_revision() -> None:
    """A new decision carries the clock's time, the codec's revision and a fresh id."""
    codec = make_codec(revision=3)
    decision = codec.new_decision(["marketing", "analytics"], "form")
    assert (frozenset({"analytics", "marketing"}), 3, int(T0), "form") == (
        decision.accepted,
        decision.policy_revision,
        decision.decided_at,
        decision.source,
    )
    assert 32 == len(decision.consent_id)
    assert decision.consent_id != codec.new_decision([], "form").consent_id


def test_a_new_decision_keeps_the_previous_consent_id() -> None:
    """Deciding again links the new decision to the consent id of the earlier cookie."""
    codec = make_codec()
    first = codec.new_decision(["analytics"], "banner")
    again = codec.new_decision([], "banner", codec.loads(codec.dumps(first)))
    assert first.consent_id == again.consent_id


def test_no_cookie_is_no_decision() -> None:
    """No value, or an empty one, is the absent cookie."""
    assert NO_COOKIE == make_codec().loads(None)
    assert NO_COOKIE == make_codec().loads("")


def test_key_rotation_signs_with_the_newest_and_verifies_with_all() -> None:
    """With keys [old, new], old cookies still verify and new ones are signed with the
    newest key (the last), which a codec holding only the old key rejects."""
    old, rotated = make_codec(["old-key"]), make_codec(["old-key", "new-key"])
    from_old = old.dumps(old.new_decision(["analytics"], "banner"))
    assert rotated.loads(from_old).decision is not None
    from_rotated = rotated.dumps(rotated.new_decision(["analytics"], "banner"))
    assert make_codec(["new-key"]).loads(from_rotated).decision is not None
    assert None is old.loads(from_rotated).decision


def test_a_cookie_from_an_unknown_key_is_present_but_no_decision() -> None:
    """A cookie signed with a key the site does not hold proves nothing."""
    foreign = make_codec(["another-key"])
    value = foreign.dumps(foreign.new_decision(["analytics"], "banner"))
    assert CookieState(None, present=True) == make_codec().loads(value)


def test_a_bad_signature_is_present_but_no_decision() -> None:
    """A changed payload or a changed signature does not verify."""
    codec = make_codec()
    value = codec.dumps(codec.new_decision(["analytics"], "banner"))
    payload, timestamp, signature = value.rsplit(".", 2)
    forged = base64.urlsafe_b64encode(b'{"i":"x","c":["analytics","marketing"]}').decode()
    for tampered in (
        f"{forged.rstrip('=')}.{timestamp}.{signature}",
        f"{payload}.{timestamp}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}",
    ):
        assert CookieState(None, present=True) == codec.loads(tampered)


def test_a_decision_under_an_older_revision_is_stale_with_its_id() -> None:
    """After a policy revision bump the old cookie is stale: no decision, but its
    consent id is kept so the next decision links to it."""
    before = make_codec(revision=1)
    decision = before.new_decision(["analytics"], "banner")
    state = make_codec(revision=2).loads(before.dumps(decision))
    assert CookieState(None, present=True, stale=True, previous_id=decision.consent_id) == state


def test_a_cookie_past_its_max_age_is_no_decision() -> None:
    """A cookie verifies up to ``max_age`` seconds after signing, and not a second later."""
    clock = Clock()
    codec = make_codec(clock=clock)
    value = codec.dumps(codec.new_decision(["analytics"], "banner"))
    clock.now = T0 + MAX_AGE
    assert make_codec(clock=clock).loads(value).decision is not None
    clock.now = T0 + MAX_AGE + 1
    assert CookieState(None, present=True) == make_codec(clock=clock).loads(value)


def test_a_remembered_cookie_still_expires() -> None:
    """The verified-value cache does not keep an expired cookie alive."""
    clock = Clock()
    codec = make_codec(clock=clock)
    value = codec.dumps(codec.new_decision(["analytics"], "banner"))
    assert codec.loads(value).decision is not None  # now remembered
    clock.now = T0 + MAX_AGE + 1
    assert None is codec.loads(value).decision


@pytest.mark.parametrize(
    "payload",
    [
        ["i", "c"],
        "a string",
        {},
        {"i": "x", "c": ["analytics"], "r": 1, "t": int(T0)},  # no source
        {"i": 7, "c": ["analytics"], "r": 1, "t": int(T0), "s": "banner"},
        {"i": "x", "c": "analytics", "r": 1, "t": int(T0), "s": "banner"},
        {"i": "x", "c": [1], "r": 1, "t": int(T0), "s": "banner"},
        {"i": "x", "c": [], "r": "1", "t": int(T0), "s": "banner"},
        {"i": "x", "c": [], "r": 1, "t": T0 + 0.5, "s": "banner"},
        {"i": "x", "c": [], "r": 1, "t": int(T0), "s": "someone"},
    ],
)
def test_a_well_signed_but_malformed_payload_is_no_decision(payload: object) -> None:
    """A payload of the wrong shape is no decision, even with a good signature."""
    assert CookieState(None, present=True) == on_the_wall_clock().loads(signed(payload))


@pytest.mark.parametrize("value", ["garbage", "a.b.c", ".", "é", "x" * 5000])
def test_garbage_is_present_but_no_decision(value: str) -> None:
    """Anything that is not a signed value at all is no decision, never an error."""
    assert CookieState(None, present=True) == make_codec().loads(value)


def test_a_payload_with_a_valid_shape_signed_elsewhere_verifies() -> None:
    """The cookie format is the codec's contract: a payload of that shape signed with the
    site's key and salt is a decision (what proves the malformed cases above only fail
    by their shape)."""
    payload = {"i": "x" * 32, "c": ["analytics"], "r": 1, "t": int(T0), "s": "banner"}
    state = on_the_wall_clock().loads(signed(payload))
    assert state.decision is not None
    assert frozenset({"analytics"}) == state.decision.accepted


def test_values_that_do_not_verify_are_never_remembered() -> None:
    """10,000 distinct 8 KB forged cookies leave the verified-value cache empty and the
    heap where it was (before: every one was kept, ~80 MB)."""
    codec = make_codec()
    codec.loads(codec.dumps(codec.new_decision([], "banner")))
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(10_000):
            assert CookieState(None, present=True) == codec.loads(f"{i:08d}." + "A" * 8192)
        gc.collect()  # the failed verifications' exceptions sit in reference cycles
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert 1 == len(codec._verified)
    assert grown < 1_000_000


def test_returning_visitors_stay_verified_through_a_flood_of_new_cookies(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cookies seen again keep their place while more one-off valid cookies than the cache
    holds pass through: no HMAC again for the returning visitors."""
    codec = make_codec()
    regulars = [codec.dumps(codec.new_decision(["analytics"], "banner")) for _ in range(100)]
    for _ in range(2):
        for value in regulars:
            codec.loads(value)
    for _ in range(codec._verified.max_entries + 1000):
        codec.loads(codec.dumps(codec.new_decision([], "banner")))
    verified: list[str] = []
    real_verify = codec._verify

    def counting(value: str) -> CookieState:
        verified.append(value)
        return real_verify(value)

    monkeypatch.setattr(codec, "_verify", counting)
    for value in regulars:
        assert codec.loads(value).decision is not None
    assert [] == verified
