"""Visitor and session ids: only those the server issued with this consent are adopted."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.testclient import TestClient

from consentlog.consent.cookies import CookieFilter, CookieWriter
from consentlog.consent.decision import ConsentCodec
from consentlog.consent.http import header_map
from consentlog.consent.identifiers import IdentifierSigner
from consentlog.consent.visit import Identifiers, Visit, cookie_changes
from consentlog.exceptions import ConfigError
from consentlog.settings import Settings
from consentlog.testing import http_scope
from tests.helpers import MakeApp, rows

KEYS = ("identifier-test-key-long-enough-0123456",)
SETTINGS = Settings(secret_keys=KEYS)
CODEC = ConsentCodec(KEYS, policy_revision=1, max_age=SETTINGS.consent_max_age)
SIGNER = IdentifierSigner(KEYS)


def visit(cookies: dict[str, str], settings: Settings = SETTINGS) -> Visit:
    """The Visit of a GET / with these cookies."""
    header = "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()
    scope = http_scope(headers=[(b"cookie", header)])
    return Visit.read(scope, header_map(scope), settings, CODEC)


def accept(seen: Visit, settings: Settings = SETTINGS) -> tuple[set[str], Identifiers]:
    """The names of the cookies set and the ids logged when ``seen`` accepts analytics."""
    decision = CODEC.new_decision(["analytics"], "banner", seen.cookie)
    values, ids = cookie_changes(
        seen, decision, settings, CookieWriter(), CookieFilter(settings.categories)
    )
    return {v.split(b"=", 1)[0].decode() for v in values}, ids


def test_an_issued_id_verifies_for_its_kind_and_consent_only() -> None:
    """An id verifies with the kind and consent id it was issued for, and no other."""
    vid = SIGNER.issue("visitor", "consent-a")
    assert [True, False, False, False] == [
        SIGNER.verify(vid, "visitor", "consent-a"),
        SIGNER.verify(vid, "session", "consent-a"),
        SIGNER.verify(vid, "visitor", "consent-b"),
        SIGNER.verify(vid, "visitor", None),
    ]


def test_a_verified_id_is_remembered_and_only_a_verified_one() -> None:
    """A returning visitor's id is verified once, then remembered for its kind and consent
    id only; ids that do not verify are never remembered, however many come."""
    signer = IdentifierSigner(KEYS)
    vid = signer.issue("visitor", "consent-a")
    assert signer.verify(vid, "visitor", "consent-a")
    assert 1 == len(signer._verified)
    assert [True, False, False] == [
        signer.verify(vid, "visitor", "consent-a"),  # from memory
        signer.verify(vid, "session", "consent-a"),
        signer.verify(vid, "visitor", "consent-b"),
    ]
    for n in range(1000):
        assert not signer.verify(f"{'A' * 22}.{n:022d}", "visitor", "consent-a")
    assert 1 == len(signer._verified)


def test_ids_survive_a_key_rotation_but_not_a_foreign_key() -> None:
    """An id issued with an older key still verifies once a newer key is added; one
    issued with a key the site never had does not."""
    old = IdentifierSigner(["old-key"]).issue("visitor", "c")
    assert True is IdentifierSigner(["old-key", "new-key"]).verify(old, "visitor", "c")
    assert False is IdentifierSigner(["new-key"]).verify(old, "visitor", "c")


def test_issued_ids_are_distinct_and_cookie_safe() -> None:
    """Each id is new, and made of URL-safe characters and one dot."""
    ids = {SIGNER.issue("session", "c") for _ in range(100)}
    assert 100 == len(ids)
    assert {45} == {len(i) for i in ids}
    assert all(i.replace(".", "").replace("-", "").replace("_", "").isalnum() for i in ids)


@given(value=st.text(max_size=100), consent_id=st.text(max_size=40))
def test_no_hostile_string_verifies(value: str, consent_id: str) -> None:
    """Whatever a browser sends as an id, it does not verify, and nothing raises."""
    assert False is SIGNER.verify(value, "visitor", consent_id)


@pytest.mark.parametrize(
    "vid",
    [
        "A" * 22,  # what consentlog issued before ids were bound
        "A" * 22 + "." + "B" * 22,  # the right shape, no valid MAC
        IdentifierSigner(["a sibling's key"]).issue("visitor", "x"),
    ],
)
def test_an_id_the_server_did_not_issue_is_replaced(vid: str) -> None:
    """A visitor id set by hand, tossed from elsewhere or forged is replaced, never logged."""
    seen = visit({"cl_consent": CODEC.dumps(CODEC.new_decision([], "banner")), "cl_vid": vid})
    names, ids = accept(seen)
    assert {"cl_vid", "cl_sid"} == names
    assert vid != ids.visitor_id
    assert SIGNER.verify(ids.visitor_id, "visitor", seen.cookie.previous_id)


def test_an_id_issued_with_another_consent_is_replaced() -> None:
    """A genuine visitor id copied from another browser, next to this browser's own
    consent cookie, is not adopted."""
    theirs = CODEC.new_decision(["analytics"], "banner")
    vid = SIGNER.issue("visitor", theirs.consent_id)
    mine = CODEC.dumps(CODEC.new_decision([], "banner"))
    names, ids = accept(visit({"cl_consent": mine, "cl_vid": vid}))
    assert "cl_vid" in names
    assert vid != ids.visitor_id


def test_an_id_without_a_consent_cookie_is_replaced() -> None:
    """Without a consent cookie that verifies, no id is adopted."""
    vid = SIGNER.issue("visitor", "some-consent")
    _, ids = accept(visit({"cl_vid": vid}))
    assert vid != ids.visitor_id
    assert Identifiers() == visit({"cl_vid": vid}).proven_ids(SETTINGS)


def test_host_prefixed_names_need_secure_cookies_and_no_domain() -> None:
    """host_cookie_prefix names the three cookies __Host-…, and is refused where browsers
    would refuse such cookies."""
    prefixed = Settings(secret_keys=KEYS, host_cookie_prefix=True, secure_cookies="always")
    assert ("__Host-cl_consent", "__Host-cl_vid", "__Host-cl_sid") == (
        prefixed.consent_cookie,
        prefixed.visitor_cookie,
        prefixed.session_cookie,
    )
    with pytest.raises(ConfigError, match="secure_cookies='always'"):
        Settings(secret_keys=KEYS, host_cookie_prefix=True)
    with pytest.raises(ConfigError, match="no cookie_domain"):
        Settings(
            secret_keys=KEYS,
            host_cookie_prefix=True,
            secure_cookies="always",
            cookie_domain="example.org",
        )


def test_with_host_prefixed_names_an_unprefixed_cookie_is_ignored() -> None:
    """With __Host- names, a plain cl_consent (which a sibling subdomain could set)
    decides nothing, and the ids issued are set under the prefixed names, Secure."""
    prefixed = Settings(secret_keys=KEYS, host_cookie_prefix=True, secure_cookies="always")
    cookie = CODEC.dumps(CODEC.new_decision(["analytics"], "banner"))
    assert None is visit({"cl_consent": cookie}, prefixed).decision
    seen = visit({"__Host-cl_consent": cookie}, prefixed)
    assert seen.decision is not None
    decision = CODEC.new_decision(["analytics"], "banner", seen.cookie)
    values, _ = cookie_changes(
        seen, decision, prefixed, CookieWriter(), CookieFilter(prefixed.categories)
    )
    assert 2 == len(values)
    assert all(v.startswith(b"__Host-cl_") and b"; Secure" in v for v in values)
    assert not any(b"Domain=" in v for v in values)


# -- self-service needs the visitor id issued with the consent ----------------------------


def test_a_copied_consent_cookie_alone_opens_nothing(make_stored_app: MakeApp) -> None:
    """my-data and forget with only another browser's consent cookie, or with its visitor
    id beside a consent cookie of one's own, neither show nor erase that browser's rows."""
    app = make_stored_app()
    victim = TestClient(app)
    victim.post("/_consent", json={"action": "accept_all"})
    victim.get("/docs/a")
    stolen_consent, stolen_vid = victim.cookies["cl_consent"], victim.cookies["cl_vid"]
    mine = TestClient(app).post("/_consent", json={"action": "reject_all"})
    for cookies in (
        {"cl_consent": stolen_consent},
        {"cl_consent": mine.cookies["cl_consent"], "cl_vid": stolen_vid},
    ):
        thief = TestClient(app, cookies=cookies)
        assert [] == thief.get("/_consent/my-data").json()["page_requests"]
        thief.post("/_consent/forget")
    query = f"SELECT path FROM {{db}}.page_requests WHERE visitor_id = '{stolen_vid}'"
    assert [{"path": "/docs/a"}] == rows(app, query)
