"""Dashboard login parts on their own: credentials, signed sessions, the failure throttle."""

from __future__ import annotations

import hmac

import pytest
from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from consentlog.dashboard.auth import MAX_TRACKED_CLIENTS, Credentials, Sessions, Throttle

KEY = "auth-test-key"
T0 = 1_800_000_000


# -- Credentials --------------------------------------------------------------------------


def test_credentials_tell_password_from_token() -> None:
    """The secret given is the password, the token, or neither."""
    credentials = Credentials(password="pw", token="tok")
    assert ["password", "token", None, None] == [
        credentials.check(secret) for secret in ("pw", "tok", "nope", "")
    ]
    assert (True, False) == (credentials.check_token("tok"), credentials.check_token("pw"))


def test_credentials_with_only_one_secret() -> None:
    """A missing password or token never matches, not even the empty string."""
    assert (None, "token") == (
        Credentials(token="tok").check(""),
        Credentials(token="tok").check("tok"),
    )
    assert (None, False) == (
        Credentials(password="pw").check(""),
        Credentials(password="pw").check_token(""),
    )


def test_credentials_need_a_password_or_a_token() -> None:
    """Neither secret: refused, naming the settings to set."""
    with pytest.raises(ValueError, match="CONSENTLOG_DASHBOARD_PASSWORD"):
        Credentials()
    with pytest.raises(ValueError, match="CONSENTLOG_DASHBOARD_TOKEN"):
        Credentials(password="", token="")


def test_check_always_compares_both_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Even when the password matches, the token is compared too, and only digests of
    equal length are compared, with ``hmac.compare_digest``."""
    compared: list[tuple[int, int]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((len(a), len(b)))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert "password" == Credentials(password="pw", token="a much longer token").check("pw")
    assert [(32, 32), (32, 32)] == compared


def test_fingerprint_follows_the_credentials_and_the_key() -> None:
    """Changing the password, the token or the key changes the fingerprint."""
    base = Credentials(password="pw", token="tok").fingerprint(KEY)
    assert base == Credentials(password="pw", token="tok").fingerprint(KEY)
    others = [
        Credentials(password="pw2", token="tok").fingerprint(KEY),
        Credentials(password="pw", token="tok2").fingerprint(KEY),
        Credentials(password="pw").fingerprint(KEY),
        Credentials(password="pw", token="tok").fingerprint("another-key"),
    ]
    assert 5 == len({base, *others})


# -- Sessions -----------------------------------------------------------------------------


def sessions(
    keys: list[str] | None = None, credentials: Credentials | None = None, max_age: int = 3600
) -> Sessions:
    return Sessions(keys or [KEY], credentials or Credentials(password="pw"), max_age=max_age)


def test_an_issued_session_is_valid() -> None:
    """A session cookie value verifies with the sessions that issued it."""
    issuer = sessions()
    assert True is issuer.valid(issuer.issue("password"))


@pytest.mark.parametrize("value", [None, "", "garbage", "a.b.c"])
def test_no_or_garbage_session_is_not_valid(value: str | None) -> None:
    """Nothing, or something that is not a signed value, is not a session."""
    assert False is sessions().valid(value)


def test_a_tampered_session_is_not_valid() -> None:
    """Changing the signed value breaks it."""
    value = sessions().issue("token")
    assert False is sessions().valid(value[:-2] + ("xx" if not value.endswith("xx") else "yy"))


def test_sessions_are_bound_to_the_credentials() -> None:
    """Changing the password ends every session: the same key no longer accepts them."""
    value = sessions(credentials=Credentials(password="pw")).issue("password")
    assert False is sessions(credentials=Credentials(password="new")).valid(value)


def test_a_session_signed_with_another_key_is_not_valid() -> None:
    """A session signed with a key the dashboard does not hold is not a session."""
    value = sessions(["another-key"]).issue("password")
    assert False is sessions().valid(value)


def test_a_session_expires_after_max_age(monkeypatch: pytest.MonkeyPatch) -> None:
    """A session is valid up to ``max_age`` seconds after login, then not."""
    now = [T0]
    # itsdangerous reads the time through this overridable method (its clock seam)
    monkeypatch.setattr(TimestampSigner, "get_timestamp", lambda self: now[0])
    issuer = sessions(max_age=12 * 60 * 60)
    value = issuer.issue("password")
    now[0] = T0 + 12 * 60 * 60
    assert True is issuer.valid(value)
    now[0] += 1
    assert False is issuer.valid(value)


def test_a_signed_value_that_is_not_a_session_is_not_valid() -> None:
    """Well signed, but without the credentials' fingerprint: not a session."""
    signer = URLSafeTimedSerializer([KEY], salt="consentlog.dashboard")
    payloads: list[object] = [[], {"via": "password"}, {"c": 7}, {"c": "0" * 32}]
    for payload in payloads:
        assert False is sessions().valid(signer.dumps(payload))


def test_sessions_need_secret_keys() -> None:
    """Sessions without keys (or with an empty key) are refused, naming the setting."""
    for keys in ([], ["", "k"]):
        with pytest.raises(ValueError, match="CONSENTLOG_SECRET_KEY"):
            Sessions(keys, Credentials(password="pw"), max_age=60)


# -- Throttle -----------------------------------------------------------------------------


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limit_blocks_until_the_oldest_failure_ages_out() -> None:
    """After ``limit`` failures within ``window`` the client waits until the oldest of
    them is ``window`` seconds old."""
    clock = Clock()
    throttle = Throttle(limit=3, window=300, clock=clock)
    for _ in range(2):
        throttle.failure("a")
        clock.now += 10
    assert None is throttle.retry_after("a")
    throttle.failure("a")
    assert 280 == throttle.retry_after("a")
    clock.now += 279.5
    assert 1 == throttle.retry_after("a")
    clock.now += 0.5
    assert None is throttle.retry_after("a")


def test_failures_are_counted_per_client() -> None:
    """One address's failures do not throttle another."""
    throttle = Throttle(limit=1, window=60, clock=Clock())
    throttle.failure("a")
    assert (60, None) == (throttle.retry_after("a"), throttle.retry_after("b"))


def test_success_forgets_the_failures() -> None:
    """A successful login starts the count again."""
    throttle = Throttle(limit=2, window=60, clock=Clock())
    throttle.failure("a")
    throttle.success("a")
    throttle.failure("a")
    assert None is throttle.retry_after("a")


def test_the_throttle_tracks_a_bounded_number_of_clients() -> None:
    """When more addresses fail than it tracks, the least recent one is forgotten."""
    throttle = Throttle(limit=1, window=60, clock=Clock())
    for i in range(MAX_TRACKED_CLIENTS + 1):
        throttle.failure(f"client-{i}")
    assert None is throttle.retry_after("client-0")
    assert 60 == throttle.retry_after(f"client-{MAX_TRACKED_CLIENTS}")
