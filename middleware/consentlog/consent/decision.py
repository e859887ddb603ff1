"""The visitor's consent decision and its signed cookie.

A cookie that does not verify — bad signature, unknown key, stale policy revision, past
its age, malformed payload — is simply *no decision*, never an error.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

from itsdangerous import BadData, TimestampSigner, URLSafeTimedSerializer

from consentlog.consent.cache import BoundedCache
from consentlog.consent.identifiers import IdentifierSigner

# how a decision was taken: the banner (JSON), its form, a browser signal, or the
# operator's default for a region where the banner does not ask (banner_regions)
Source = Literal["banner", "form", "gpc", "dnt", "region"]
SOURCES: frozenset[str] = frozenset(("banner", "form", "gpc", "dnt", "region"))


@dataclass(frozen=True, slots=True)
class Decision:
    """What the visitor chose: the optional categories they accepted, and when and how."""

    consent_id: str
    accepted: frozenset[str]
    policy_revision: int
    decided_at: int  # unix seconds
    source: Source


@dataclass(frozen=True, slots=True)
class CookieState:
    """What the consent cookie of a request proved.

    ``decision`` is None when there is no valid decision; ``present`` tells whether a
    cookie was sent at all, ``stale`` whether it verified but predates the policy revision.
    """

    decision: Decision | None
    present: bool = False
    stale: bool = False
    previous_id: str | None = None


NO_COOKIE = CookieState(None)
_CACHE_ENTRIES = 10_000  # distinct consent cookies remembered as verified
_CACHE_BYTES = 8 * 1024 * 1024
_ENTRY_OVERHEAD = 400  # bytes of a cached state beside its key, roughly


Clock = Callable[[], float]
"""Unix seconds now: ``time.time``, or a test's frozen clock."""


class _ClockedSigner(TimestampSigner):
    """itsdangerous's timestamp signer, reading the time from the codec's clock."""

    def __init__(self, *args: Any, clock: Clock, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clock = clock

    def get_timestamp(self) -> int:
        """The codec's time, in whole seconds."""
        return int(self._clock())


class ConsentCodec:
    """Signs and verifies the consent cookie; key rotation is a list of secrets, newest last.

    ``clock`` is where the codec reads the time — when a decision is taken, when a cookie
    is signed, how old it is — so expiry can be tested without waiting. ``identifiers``
    issues the visitor and session ids bound to a decision's consent id, with the same keys.
    """

    def __init__(
        self,
        secret_keys: Iterable[str],
        *,
        policy_revision: int,
        max_age: int,
        clock: Clock = time.time,
    ) -> None:
        keys = list(secret_keys)
        self._clock = clock
        self.identifiers = IdentifierSigner(keys)
        self._serializer = URLSafeTimedSerializer(
            keys,
            salt="consentlog.consent",
            signer=_ClockedSigner,
            signer_kwargs={"clock": clock},
        )
        self._revision = policy_revision
        self._max_age = max_age
        self._verified: BoundedCache[str, CookieState] = BoundedCache(_CACHE_ENTRIES, _CACHE_BYTES)

    def new_decision(
        self, accepted: Iterable[str], source: Source, previous: CookieState = NO_COOKIE
    ) -> Decision:
        """A decision taken now; it keeps the consent id of an earlier cookie so the
        proof-of-consent history of one browser stays linked."""
        return Decision(
            consent_id=previous.previous_id or uuid.uuid4().hex,
            accepted=frozenset(accepted),
            policy_revision=self._revision,
            decided_at=int(self._clock()),
            source=source,
        )

    def dumps(self, decision: Decision) -> str:
        """The cookie value for ``decision``."""
        payload = {
            "i": decision.consent_id,
            "c": sorted(decision.accepted),
            "r": decision.policy_revision,
            "t": decision.decided_at,
            "s": decision.source,
        }
        return self._serializer.dumps(payload)

    def loads(self, value: str | None) -> CookieState:
        """What a cookie value proves; anything that does not verify is no decision.

        Values that verified are remembered (a cache bounded by entries and bytes, keyed
        by the exact cookie string), so a returning visitor costs a lookup and an age
        check, not an HMAC. What does not verify is never remembered: it cannot push
        real visitors out.
        """
        if not value:
            return NO_COOKIE
        cached = self._verified.get(value)
        if cached is not None and cached.decision is not None:
            if not self._expired(cached.decision):
                return cached
            self._verified.discard(value)
        state = self._verify(value)
        if state.decision is not None:
            self._verified.put(value, state, len(value) + _ENTRY_OVERHEAD)
        return state

    def _expired(self, decision: Decision) -> bool:
        return self._clock() - decision.decided_at > self._max_age

    def holds(self, decision: Decision) -> bool:
        """Whether ``decision`` (read from a cookie that verified) has not expired yet."""
        return not self._expired(decision)

    def _verify(self, value: str) -> CookieState:
        try:
            payload = self._serializer.loads(value, max_age=self._max_age)
        except (BadData, ValueError, TypeError):
            return CookieState(None, present=True)
        decision = _decision_from(payload)
        if decision is None:
            return CookieState(None, present=True)
        if decision.policy_revision != self._revision:
            return CookieState(None, present=True, stale=True, previous_id=decision.consent_id)
        return CookieState(decision, present=True, previous_id=decision.consent_id)


def _decision_from(payload: object) -> Decision | None:
    if not isinstance(payload, dict):
        return None
    consent_id, accepted = payload.get("i"), payload.get("c")
    revision, decided_at, source = payload.get("r"), payload.get("t"), payload.get("s")
    if not (
        isinstance(consent_id, str)
        and isinstance(accepted, list)
        and all(isinstance(c, str) for c in accepted)
        and isinstance(revision, int)
        and isinstance(decided_at, int)
        and source in SOURCES
    ):
        return None
    return Decision(consent_id, frozenset(accepted), revision, decided_at, source)
