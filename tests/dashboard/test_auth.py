"""Dashboard login parts on their own: credentials, signed sessions, the failure throttle."""

from __future__ import annotations

import asyncio
import hmac

import pytest
from hypothesis import given
from hypothesis import strategies as st
from itsdangerous import URLSafeSerializer

from consentlog.dashboard import sessions as sessions_module
from consentlog.dashboard.sessions import (
    SESSION_REFRESH,
    Credentials,
    Session,
    Sessions,
    Via,
    binding,
)
from consentlog.dashboard.throttle import MAX_TRACKED_CLIENTS, Throttle

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


def _bound(credentials: Credentials, key: str = KEY) -> str:
    principal = credentials.principal("")
    assert principal is not None
    return binding(key, principal)


def test_the_binding_follows_the_credentials_and_the_key() -> None:
    """Changing the password, the token or the key changes the session binding."""
    base = _bound(Credentials(password="pw", token="tok"))
    assert base == _bound(Credentials(password="pw", token="tok"))
    others = [
        _bound(Credentials(password="pw2", token="tok")),
        _bound(Credentials(password="pw", token="tok2")),
        _bound(Credentials(password="pw")),
        _bound(Credentials(password="pw", token="tok"), "another-key"),
    ]
    assert 5 == len({base, *others})


def test_the_single_password_is_one_full_access_principal() -> None:
    """The credentials name one principal, '' with the admin role, and no named user."""
    principal = Credentials(password="pw").principal("")
    assert principal is not None
    assert ("", "admin") == (principal.name, principal.role)
    assert None is Credentials(password="pw").principal("admin")


# -- Sessions -----------------------------------------------------------------------------


def issue(issuer: Sessions, via: Via) -> str:
    """A session of the single password's principal."""
    principal = issuer.accounts.principal("")
    assert principal is not None
    return issuer.issue(principal, via)


class ClockedSessions(Sessions):
    """Sessions whose clock moves only when a test says so."""

    clock = T0

    def now(self) -> int:
        return self.clock


def sessions(
    keys: list[str] | None = None,
    credentials: Credentials | None = None,
    max_age: int = 3600,
    idle: int = 3600,
) -> ClockedSessions:
    return ClockedSessions(
        keys or [KEY], credentials or Credentials(password="pw"), max_age=max_age, idle=idle
    )


def test_an_issued_session_is_valid() -> None:
    """A session cookie value verifies with the sessions that issued it."""
    issuer = sessions()
    assert True is issuer.valid(issue(issuer, "password"))


@pytest.mark.parametrize("value", [None, "", "garbage", "a.b.c"])
def test_no_or_garbage_session_is_not_valid(value: str | None) -> None:
    """Nothing, or something that is not a signed value, is not a session."""
    assert False is sessions().valid(value)


def test_a_tampered_session_is_not_valid() -> None:
    """Changing the signed value breaks it."""
    value = issue(sessions(), "token")
    assert False is sessions().valid(value[:-2] + ("xx" if not value.endswith("xx") else "yy"))


def test_sessions_are_bound_to_the_credentials() -> None:
    """Changing the password ends every session: the same key no longer accepts them."""
    value = issue(sessions(credentials=Credentials(password="pw")), "password")
    assert False is sessions(credentials=Credentials(password="new")).valid(value)


def test_a_session_signed_with_another_key_is_not_valid() -> None:
    """A session signed with a key the dashboard does not hold is not a session."""
    value = issue(sessions(["another-key"]), "password")
    assert False is sessions().valid(value)


def test_a_session_expires_after_max_age() -> None:
    """A session is valid up to ``max_age`` seconds after login, then not — however
    recently it was used."""
    issuer = sessions(max_age=12 * 60 * 60, idle=SESSION_REFRESH * 2)
    value = issue(issuer, "password")
    while issuer.clock < T0 + 12 * 60 * 60:
        issuer.clock = min(issuer.clock + SESSION_REFRESH, T0 + 12 * 60 * 60)
        session = issuer.open(value)
        assert session is not None
        value = issuer.renewed(session) or value
    assert True is issuer.valid(value)
    issuer.clock += 1
    assert False is issuer.valid(value)


def test_a_session_expires_when_idle() -> None:
    """A session unused for more than ``idle`` seconds is over, though its maximum age
    is not reached."""
    issuer = sessions(max_age=12 * 60 * 60, idle=3600)
    value = issue(issuer, "password")
    issuer.clock = T0 + 3600
    assert True is issuer.valid(value)
    issuer.clock += 1
    assert False is issuer.valid(value)


def test_renewing_moves_the_idle_timeout() -> None:
    """A renewed value counts its idle time from the renewal; a fresh one is not renewed."""
    issuer = sessions(max_age=12 * 60 * 60, idle=3600)
    value = issue(issuer, "token")
    issuer.clock = T0 + SESSION_REFRESH - 1
    session = issuer.open(value)
    assert session is not None
    assert None is issuer.renewed(session)
    issuer.clock = T0 + 3000
    session = issuer.open(value)
    assert session is not None
    renewed = issuer.renewed(session)
    assert renewed is not None
    issuer.clock = T0 + 3000 + 3600
    assert (False, True) == (issuer.valid(value), issuer.valid(renewed))
    started = Session(session.sid, "token", T0, T0, session.principal)
    assert 12 * 60 * 60 - 6600 == issuer.remaining(started)


def test_a_revoked_session_is_not_valid() -> None:
    """Revoking a session ends it, every copy of its cookie, and no other session."""
    issuer = sessions()
    value, other = issue(issuer, "password"), issue(issuer, "password")
    session = issuer.open(value)
    assert session is not None
    issuer.revoke(session)
    assert (False, True) == (issuer.valid(value), issuer.valid(other))


def test_the_revocation_set_is_bounded_and_never_revives(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """When more sessions are revoked than it holds, the oldest stay revoked (with any
    session issued no later than them), and later sessions stay valid."""
    monkeypatch.setattr(sessions_module, "MAX_REVOKED", 3)
    issuer = sessions()
    revoked = []
    for _ in range(5):
        value = issue(issuer, "password")
        session = issuer.open(value)
        assert session is not None
        issuer.revoke(session)
        revoked.append(value)
        issuer.clock += 1
    later = issue(issuer, "password")
    assert [False] * 5 + [True] == [issuer.valid(v) for v in [*revoked, later]]
    assert 3 == len(issuer._revoked)


def test_adding_a_key_keeps_sessions() -> None:
    """Rotation: a session issued before a newer key was added (newest last) stays valid;
    one whose signing key was dropped does not."""
    value = issue(sessions(["old-key"]), "password")
    assert True is sessions(["old-key", "new-key"]).valid(value)
    assert False is sessions(["new-key"]).valid(value)
    newer = issue(sessions(["old-key", "new-key"]), "password")
    assert True is sessions(["new-key"]).valid(newer)


def test_a_signed_value_that_is_not_a_session_is_not_valid() -> None:
    """Well signed, but without the principal's binding or a session's fields: not a
    session."""
    signer = URLSafeSerializer([KEY], salt="consentlog.dashboard")
    bound = _bound(Credentials(password="pw"))
    good = {"u": "", "b": bound, "sid": "s", "via": "password", "iat": T0, "seen": T0}
    payloads: list[object] = [
        [],
        {"via": "password"},
        {**good, "b": 7},
        {**good, "b": "0" * 32},
        {**good, "u": "someone"},
        {**good, "u": None},
        {**good, "sid": 1},
        {**good, "via": "admin"},
        {**good, "iat": "T0"},
        {**good, "seen": True},
    ]
    assert [False] * len(payloads) == [sessions().valid(signer.dumps(p)) for p in payloads]
    assert True is sessions().valid(signer.dumps(good))


@given(value=st.text(max_size=300))
def test_hostile_cookie_values_are_no_session(value: str) -> None:
    """Arbitrary text is not a session, and never an error."""
    assert False is sessions().valid(value)


@given(
    payload=st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=40),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner),
        max_leaves=12,
    )
)
def test_well_signed_odd_payloads_are_no_session(payload: object) -> None:
    """Whatever JSON a signature covers, only a session's own payload opens a session."""
    signer = URLSafeSerializer([KEY], salt="consentlog.dashboard")
    assert False is sessions().valid(signer.dumps(payload))


def test_sessions_need_secret_keys() -> None:
    """Sessions without keys (or with an empty key) are refused, naming the setting."""
    for keys in ([], ["", "k"]):
        with pytest.raises(ValueError, match="CONSENTLOG_SECRET_KEY"):
            Sessions(keys, Credentials(password="pw"))


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


def test_a_success_takes_back_only_its_own_attempt() -> None:
    """A success settles the attempt it counted, never the failures before it (an
    insider's own logins do not reset the count of their guesses)."""
    clock = Clock()
    throttle = Throttle(limit=2, window=60, clock=clock)
    throttle.failure("a")
    clock.now += 1
    throttle.settle(throttle.begin("a"))
    assert None is throttle.retry_after("a")
    clock.now += 1
    throttle.failure("a")
    assert 58 == throttle.retry_after("a")


def test_the_throttle_tracks_a_bounded_number_of_clients() -> None:
    """When more addresses fail than it tracks, the least recent one is forgotten."""
    throttle = Throttle(limit=1, window=60, clock=Clock())
    for i in range(MAX_TRACKED_CLIENTS + 1):
        throttle.failure(f"client-{i}")
    assert None is throttle.retry_after("client-0")
    assert 60 == throttle.retry_after(f"client-{MAX_TRACKED_CLIENTS}")


def test_the_global_limit_paces_every_client() -> None:
    """Once ``global_limit`` failures from all clients fell within the window, attempts
    from any client, new ones too, get turns ``spacing`` apart, never more than
    ``max_wait`` away."""
    clock = Clock()
    throttle = Throttle(global_limit=3, spacing=1.0, max_wait=3.0, clock=clock)
    assert 0.0 == throttle.global_wait()
    for i in range(3):
        throttle.failure(f"rotating-{i}")
    assert [0.0, 1.0, 2.0, 3.0, 3.0] == [throttle.global_wait() for _ in range(5)]
    assert None is throttle.retry_after("newcomer")


def test_the_global_limit_ends_when_failures_age_out() -> None:
    """Pacing stops once fewer than ``global_limit`` failures are within the window."""
    clock = Clock()
    throttle = Throttle(global_limit=2, window=60, spacing=1.0, clock=clock)
    throttle.failure("a")
    clock.now += 30
    throttle.failure("b")
    assert 0.0 == throttle.global_wait()  # the first turn is free
    assert 1.0 == throttle.global_wait()
    clock.now += 30
    assert 0.0 == throttle.global_wait()


def test_success_does_not_reset_the_global_count() -> None:
    """One client's success does not end the pacing others' failures caused."""
    clock = Clock()
    throttle = Throttle(global_limit=2, spacing=5.0, clock=clock)
    throttle.failure("a")
    throttle.failure("a")
    throttle.settle(throttle.begin("a"))
    assert [0.0, 5.0] == [throttle.global_wait(), throttle.global_wait()]


def test_pace_sleeps_through_the_seam() -> None:
    """``pace`` waits its turn with the sleep it was given, and not at all without a turn
    to wait for."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    throttle = Throttle(global_limit=1, spacing=2.0, clock=Clock(), sleep=sleep)

    async def attempts() -> None:
        await throttle.pace()
        throttle.failure("a")
        await throttle.pace()
        await throttle.pace()

    asyncio.run(attempts())
    assert [2.0] == slept


def test_limits_below_one_are_refused() -> None:
    """A limit of zero would refuse or pace everyone: refused, naming both."""
    with pytest.raises(ValueError, match="global_limit"):
        Throttle(global_limit=0)
