"""Failed dashboard logins are counted per client address as the trusted-proxy rule
resolves it, and for all clients together, so a rotating X-Forwarded-For buys no more
guesses than the global pace allows."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.testclient import TestClient

from consentlog.dashboard import create_dashboard
from consentlog.dashboard.throttle import FAILURE_LIMIT, Throttle
from consentlog.store import Store

PROXY = ("203.0.113.1", 40000)  # the socket peer: the one trusted reverse proxy


class Clock:
    """Monotonic seconds that move only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def nap(seconds: float) -> None:
    """A sleep that does not: the waits are not what these tests measure."""


def behind_proxy(store: Store, throttle: Throttle) -> Starlette:
    return create_dashboard(
        store,
        database="unused",
        password="right",
        secret_keys=["k"],
        trusted_proxy_hops=1,
        throttle=throttle,
    )


def attempt(client: TestClient, secret: str, forwarded_for: str) -> int:
    response = client.post(
        "/login",
        data={"secret": secret, "next": "/"},
        headers={"x-forwarded-for": forwarded_for, "origin": "http://testserver"},
        follow_redirects=False,
    )
    status: int = response.status_code
    return status


def test_the_resolved_client_address_is_throttled(store: Store) -> None:
    """Behind a trusted proxy, the address the proxy forwarded is refused (429) after the
    limit, while another client behind the same proxy still logs in."""
    throttle = Throttle(clock=Clock(), sleep=nap)
    client = TestClient(behind_proxy(store, throttle), client=PROXY)
    statuses = [attempt(client, "wrong", "198.51.100.7") for _ in range(FAILURE_LIMIT + 1)]
    assert [401] * FAILURE_LIMIT + [429] == statuses
    assert 303 == attempt(client, "right", "198.51.100.8")


def test_rotating_forwarded_for_does_not_escape_the_throttle(store: Store) -> None:
    """A client forging a new X-Forwarded-For per attempt passes the per-client limit but
    meets the global one: past it, every attempt waits its turn, one per second."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    throttle = Throttle(
        global_limit=4, spacing=1.0, max_wait=10.0, delay=0, clock=Clock(), sleep=sleep
    )
    client = TestClient(behind_proxy(store, throttle), client=PROXY)
    statuses = [attempt(client, "wrong", f"198.51.100.{n}") for n in range(8)]
    assert [401] * 8 == statuses
    assert [1.0, 2.0, 3.0] == slept


def test_the_global_limit_never_locks_the_right_password_out(store: Store) -> None:
    """However many forged addresses keep failing, the right password from an address
    without failures of its own gets in, after at most ``max_wait`` seconds."""
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    throttle = Throttle(
        global_limit=2, spacing=1.0, max_wait=5.0, delay=0, clock=Clock(), sleep=sleep
    )
    client = TestClient(behind_proxy(store, throttle), client=PROXY)
    for n in range(12):
        attempt(client, "wrong", f"198.51.100.{n}")
    slept.clear()
    assert 303 == attempt(client, "right", "192.0.2.50")
    assert [5.0] == slept
