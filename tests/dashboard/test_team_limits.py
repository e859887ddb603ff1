"""The team login's limits under attack, over HTTP on the real engine: a concurrent burst
of TOTP guesses meets the limit as a sequence would, the per-user counts survive address
churn and hold across processes (the users file), an insider's own logins reset nothing,
guesses at one user from many addresses are limited per user (made-up names alike), and
the argon2 checks running at once are bounded."""

from __future__ import annotations

import asyncio
import collections
import re
import threading
import time
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.devices import DEVICE_COOKIE, Devices
from consentlog.dashboard.gate import HASHING_AT_ONCE, HASHING_QUEUE
from consentlog.dashboard.throttle import (
    ACCOUNT_LIMIT,
    FAILURE_LIMIT,
    MAX_TRACKED_CLIENTS,
    Throttle,
)
from consentlog.dashboard.users import TOTP_FAILURE_LIMIT, UserStore
from consentlog.store import Store
from tests.dashboard.support import SECRET
from tests.dashboard.team import CHEAP, PASSWORDS, code_now, team_store


def _app(store: Store, dataset: str, users: UserStore, **options: object) -> Starlette:
    options.setdefault("throttle", Throttle(delay=0.0))
    return create_dashboard(
        store,
        database=dataset,
        users=users,
        secret_keys=[SECRET],
        **options,  # type: ignore[arg-type]
    )


def _pending(text: str) -> str:
    found = re.search(r'name="pending" value="([^"]+)"', text)
    assert found is not None, text[:300]
    return found.group(1)


async def _burst(app: Starlette, users: UserStore, wrong: int) -> collections.Counter[int]:
    transport = httpx.ASGITransport(app=app, client=("203.0.113.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        first = await client.post(
            "/login", data={"username": "admin", "secret": PASSWORDS["admin"]}
        )
        pending = _pending(first.text)
        right = code_now(users, "admin")
        codes = [*[f"{i:06d}" for i in range(wrong + 1) if f"{i:06d}" != right][:wrong], right]
        answers = await asyncio.gather(
            *(client.post("/login/totp", data={"pending": pending, "code": code}) for code in codes)
        )
    return collections.Counter(a.status_code for a in answers)


def test_a_concurrent_burst_of_totp_codes_meets_the_limit(
    store: Store, dataset: str, tmp_path: Path
) -> None:
    """199 wrong codes and the right one, sent at once: only ``FAILURE_LIMIT`` are
    compared, the rest (the right one among them) refused 429."""
    users = team_store(tmp_path / "users.json", totp=frozenset({"admin"}))
    seen = asyncio.run(_burst(_app(store, dataset, users), users, 199))
    assert {401: FAILURE_LIMIT, 429: 200 - FAILURE_LIMIT} == dict(seen)


def test_a_concurrent_burst_of_passwords_meets_the_limit(
    store: Store, dataset: str, tmp_path: Path
) -> None:
    """49 wrong passwords for one user and the right one, sent at once from one address:
    only ``FAILURE_LIMIT`` are checked, the rest (the right one among them) refused 429
    before any hashing."""
    users = team_store(tmp_path / "users.json")
    app = _app(store, dataset, users)

    async def burst() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.8", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            secrets = [f"guess-{i}" for i in range(49)] + [PASSWORDS["admin"]]
            return await asyncio.gather(
                *(c.post("/login", data={"username": "admin", "secret": s}) for s in secrets)
            )

    answers = asyncio.run(burst())
    seen = collections.Counter(a.status_code for a in answers)
    assert {401: FAILURE_LIMIT, 429: 50 - FAILURE_LIMIT} == dict(seen)
    assert 429 == answers[-1].status_code


def test_the_totp_limit_holds_across_processes(store: Store, dataset: str, tmp_path: Path) -> None:
    """Two dashboards over one users file (two processes) share the TOTP count: wrong
    codes in one lock the code step in the other, even for the right code."""
    path = tmp_path / "users.json"
    team_store(path, totp=frozenset({"admin"}))
    one, two = UserStore(path, hasher=CHEAP), UserStore(path, hasher=CHEAP)
    clients = [
        TestClient(_app(store, dataset, u), base_url="http://testserver") for u in (one, two)
    ]

    def code_step(client: TestClient, code: str) -> int:
        first = client.post("/login", data={"username": "admin", "secret": PASSWORDS["admin"]})
        answer = client.post("/login/totp", data={"pending": _pending(first.text), "code": code})
        return answer.status_code

    wrong = "000000" if code_now(one, "admin") != "000000" else "000001"
    statuses = [code_step(clients[i % 2], wrong) for i in range(TOTP_FAILURE_LIMIT)]
    assert [401] * TOTP_FAILURE_LIMIT == statuses
    locked = code_step(clients[0], code_now(one, "admin"))
    assert 429 == locked
    assert (
        "locked"
        == UserStore(path, hasher=CHEAP).check_totp("admin", code_now(one, "admin")).outcome
    )


def test_per_user_counts_survive_address_churn() -> None:
    """More failing addresses (and made-up names) than the tables hold do not evict the
    count of a user that exists."""
    throttle = Throttle(limit=2, window=60)
    for _ in range(2):
        throttle.begin("10.0.0.1", "admin", "totp", known=True)
    for i in range(MAX_TRACKED_CLIENTS + 10):
        throttle.begin(f"client-{i}", f"made-up-{i}", "totp", known=False)
    assert throttle.user_retry_after("admin", "totp", known=True) is not None
    assert MAX_TRACKED_CLIENTS == throttle.tracked_users(known=False)
    assert 1 == throttle.tracked_users(known=True)


def test_an_insiders_own_logins_do_not_reset_their_guesses(
    store: Store, dataset: str, tmp_path: Path
) -> None:
    """A viewer guessing the admin's password, logging in as themselves after every 4
    wrong guesses, is refused after ``FAILURE_LIMIT`` wrong guesses as anyone would be."""
    users = team_store(tmp_path / "users.json")
    client = TestClient(_app(store, dataset, users), base_url="http://testserver")
    wrong = 0
    for i in range(40):
        answer = client.post("/login", data={"username": "admin", "secret": f"guess-{i}"})
        if answer.status_code == 429:
            break
        assert 401 == answer.status_code
        wrong += 1
        if i % 4 == 3:
            own = {"username": "viewer", "secret": PASSWORDS["viewer"]}
            client.post("/login", data=own, follow_redirects=False)
    assert FAILURE_LIMIT == wrong


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(name=st.one_of(st.sampled_from(["admin", "viewer"]), st.text(min_size=1, max_size=80)))
def test_guesses_at_one_name_from_many_addresses_meet_a_per_user_limit(
    store: Store, dataset: str, users_file: UserStore, name: str
) -> None:
    """``ACCOUNT_LIMIT`` wrong passwords for one name, each from another address, lock
    that name (existing or made up: a 429 tells nobody who exists) and no other."""
    client = TestClient(
        _app(store, dataset, users_file, trusted_proxy_hops=1), base_url="http://testserver"
    )

    def attempt(i: int, who: str, secret: str) -> int:
        form = {"username": who, "secret": secret}
        headers = {"x-forwarded-for": f"198.51.{i // 250}.{i % 250 + 1}"}
        return client.post("/login", data=form, headers=headers, follow_redirects=False).status_code

    statuses = [attempt(i, name, "not the password") for i in range(ACCOUNT_LIMIT + 1)]
    assert [401] * ACCOUNT_LIMIT + [429] == statuses
    other = "analyst" if name.strip().lower() != "analyst" else "viewer"
    assert 303 == attempt(999, other, PASSWORDS[other])


@pytest.fixture
def users_file(tmp_path: Path) -> UserStore:
    return team_store(tmp_path / "users.json")


class _Counting(PasswordHasher):
    """A real argon2 hasher that records how many verifications run at once."""

    def __init__(self) -> None:
        super().__init__(time_cost=2, memory_cost=16 * 1024, parallelism=1)
        self.lock = threading.Lock()
        self.running = 0
        self.most = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> bool:
        with self.lock:
            self.running += 1
            self.most = max(self.most, self.running)
        try:
            return super().verify(hash, password)
        finally:
            with self.lock:
                self.running -= 1


def test_concurrent_logins_hash_a_bounded_few_at_once(
    store: Store, dataset: str, tmp_path: Path
) -> None:
    """Twenty concurrent logins for made-up names: at most ``HASHING_AT_ONCE`` argon2
    checks run together, ``HASHING_QUEUE`` more wait, and the rest are answered 503 at
    once with Retry-After, before any hashing."""
    hasher = _Counting()
    users = UserStore(tmp_path / "users.json", hasher=hasher)
    users.add("admin", "admin", PASSWORDS["admin"])
    app = _app(store, dataset, users, throttle=Throttle(delay=0.0, limit=100))

    async def flood() -> list[httpx.Response]:
        transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
            return await asyncio.gather(
                *(
                    c.post("/login", data={"username": f"n{i}", "secret": "x" * 12})
                    for i in range(20)
                )
            )

    started = time.monotonic()
    answers = asyncio.run(flood())
    assert time.monotonic() - started < 60
    statuses = collections.Counter(a.status_code for a in answers)
    assert hasher.most <= HASHING_AT_ONCE
    assert statuses[401] <= HASHING_AT_ONCE + HASHING_QUEUE + 2  # turns freed meanwhile
    assert statuses[503] >= 20 - (HASHING_AT_ONCE + HASHING_QUEUE + 2)
    busy = next(a for a in answers if a.status_code == 503)
    assert "1" == busy.headers["retry-after"]
    assert (
        303
        == TestClient(app)
        .post(
            "/login",
            data={"username": "admin", "secret": PASSWORDS["admin"]},
            follow_redirects=False,
        )
        .status_code
    )


def test_a_browser_the_user_logged_in_from_is_not_locked_out_with_them(
    store: Store, dataset: str, users_file: UserStore
) -> None:
    """Strangers lock the name from many addresses; the user's own browser (its device
    cookie from an earlier login) still gets in from a new address, a fresh browser does
    not, and the device's own failures meet the same limit."""
    app = _app(store, dataset, users_file, trusted_proxy_hops=1)
    own = TestClient(app, base_url="http://testserver")
    mine = {"username": "admin", "secret": PASSWORDS["admin"]}
    assert 303 == own.post("/login", data=mine, follow_redirects=False).status_code
    assert DEVICE_COOKIE in own.cookies
    stranger = TestClient(app, base_url="http://testserver")

    def attempt(client: TestClient, i: int, secret: str) -> int:
        headers = {"x-forwarded-for": f"192.0.2.{i + 1}"}
        form = {"username": "admin", "secret": secret}
        return client.post("/login", data=form, headers=headers, follow_redirects=False).status_code

    assert [401] * ACCOUNT_LIMIT == [
        attempt(stranger, i, "nope-nope") for i in range(ACCOUNT_LIMIT)
    ]
    assert 429 == attempt(TestClient(app, base_url="http://testserver"), 100, PASSWORDS["admin"])
    assert 303 == attempt(own, 101, PASSWORDS["admin"])
    guesses = [attempt(own, 110 + i, "nope-nope") for i in range(ACCOUNT_LIMIT + 1)]
    assert [401] * ACCOUNT_LIMIT + [429] == guesses


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(value=st.text(max_size=600))
def test_hostile_device_cookies_vouch_for_nobody(
    store: Store, dataset: str, users_file: UserStore, value: str
) -> None:
    """Whatever a device cookie holds, a made-up one is no device: a wrong password still
    counts against the user, and nothing breaks."""
    assert None is Devices([SECRET], users_file).vouch(value, "admin")
    client = TestClient(_app(store, dataset, users_file), base_url="http://testserver")
    client.cookies.set(DEVICE_COOKIE, value.encode("ascii", "ignore").decode() or "x")
    answer = client.post("/login", data={"username": "admin", "secret": "not it at all"})
    assert 401 == answer.status_code
