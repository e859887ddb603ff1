"""What one request proves about consent, and the cookies that bring the browser in line."""

from __future__ import annotations

import gc
import tracemalloc

import pytest

from consentlog.consent.cookies import MAX_EXPIRIES, CookieFilter, CookieWriter
from consentlog.consent.decision import NO_COOKIE, ConsentCodec, CookieState, Decision
from consentlog.consent.http import header_map
from consentlog.consent.visit import Identifiers, Visit, cookie_changes
from consentlog.settings import Settings
from consentlog.testing import http_scope

SETTINGS = Settings(secret_keys=("visit-test-key-that-is-long-enough-0123",))
VID = "v" * 22 + "." + "m" * 22  # shaped like consentlog's ids (the MACs do not verify)
SID = "s" * 22 + "." + "m" * 22


def codec_for(settings: Settings = SETTINGS, *, revision: int | None = None) -> ConsentCodec:
    return ConsentCodec(
        settings.secret_keys,
        policy_revision=settings.policy_revision if revision is None else revision,
        max_age=settings.consent_max_age,
    )


CODEC = codec_for()


def visit(
    headers: dict[str, str] | None = None,
    *,
    cookies: dict[str, str] | None = None,
    settings: Settings = SETTINGS,
    scheme: str = "http",
) -> Visit:
    """The Visit of a GET / with these headers and cookies."""
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    if cookies:
        raw.append((b"cookie", "; ".join(f"{k}={v}" for k, v in cookies.items()).encode()))
    request = {**http_scope(headers=raw), "scheme": scheme}
    return Visit.read(request, header_map(request), settings, codec_for(settings))


def consent(accepted: list[str], codec: ConsentCodec = CODEC) -> str:
    """A consent cookie value for a visitor who accepted ``accepted``."""
    return codec.dumps(codec.new_decision(accepted, "banner"))


def changes(
    seen: Visit, decision: Decision | None, settings: Settings = SETTINGS
) -> tuple[dict[str, str], Identifiers]:
    """cookie_changes as cookie name → Set-Cookie value, and the identifiers."""
    values, ids = cookie_changes(
        seen, decision, settings, CookieWriter(), CookieFilter(settings.categories)
    )
    return {v.split(b"=", 1)[0].decode(): v.decode() for v in values}, ids


# -- Visit.read: privacy signals ----------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "options", "signal"),
    [
        ({}, {}, None),
        ({"sec-gpc": "1"}, {}, "gpc"),
        ({"sec-gpc": " 1 "}, {}, "gpc"),
        ({"sec-gpc": "0"}, {}, None),
        ({"sec-gpc": "1"}, {"honor_gpc": False}, None),
        ({"dnt": "1"}, {}, None),  # DNT is ignored unless the site honours it
        ({"dnt": "1"}, {"honor_dnt": True}, "dnt"),
        ({"dnt": "1", "sec-gpc": "1"}, {"honor_dnt": True}, "gpc"),
        ({"dnt": "1", "sec-gpc": "1"}, {"honor_dnt": True, "honor_gpc": False}, "dnt"),
    ],
)
def test_privacy_signals_follow_the_settings(
    headers: dict[str, str], options: dict[str, bool], signal: str | None
) -> None:
    """Sec-GPC: 1 is a refusal unless honor_gpc is off; DNT: 1 only with honor_dnt; GPC
    names the source when both are sent."""
    settings = Settings(secret_keys=SETTINGS.secret_keys, **options)  # type: ignore[arg-type]
    assert signal == visit(headers, settings=settings).signal


# -- Visit.read: the consent cookie -------------------------------------------------------


def test_no_consent_cookie_is_no_decision() -> None:
    """Without the consent cookie the visit has no decision and no cookie state."""
    seen = visit(cookies={"theme": "dark"})
    assert (NO_COOKIE, None) == (seen.cookie, seen.decision)
    assert {"theme": "dark"} == dict(seen.cookies)


def test_a_valid_consent_cookie_is_the_decision() -> None:
    """A consent cookie that verifies is the visit's decision."""
    seen = visit(cookies={"cl_consent": consent(["analytics"])})
    assert seen.decision is not None
    assert frozenset({"analytics"}) == seen.decision.accepted


def test_a_bad_consent_cookie_is_present_without_a_decision() -> None:
    """A consent cookie that does not verify is remembered as sent, but decides nothing."""
    seen = visit(cookies={"cl_consent": "forged"})
    assert CookieState(None, present=True) == seen.cookie


def test_a_consent_cookie_of_an_older_revision_is_stale() -> None:
    """A decision taken under an older policy revision is stale."""
    old = consent(["analytics"], codec_for(revision=SETTINGS.policy_revision - 1))
    seen = visit(cookies={"cl_consent": old})
    assert (True, True, None) == (seen.cookie.present, seen.cookie.stale, seen.decision)


def test_only_the_first_8_kib_of_the_cookie_header_are_read() -> None:
    """A huge Cookie header is cut, so a cookie after 8 KiB is not seen."""
    seen = visit(cookies={"pad": "x" * 9000, "late": "1"})
    assert "late" not in seen.cookies


# -- Visit: language and Secure -----------------------------------------------------------


KNOWN = frozenset(("en", "de", "pt", "pt-BR", "nb", "zh"))


@pytest.mark.parametrize(
    ("accept_language", "language"),
    [
        ("de-AT,de;q=0.9,en;q=0.5", "de"),
        ("xx, en;q=0.1", "en"),
        ("xx", "fr"),
        ("", "fr"),
        ("pt-BR", "pt-BR"),
        ("PT-br", "pt-BR"),
        ("pt-PT", "pt"),
        ("pt-AO,en;q=0.9", "pt"),
        ("zh-CN", "zh"),
        ("no", "nb"),
        ("nn-NO", "nb"),
        ("en;q=0.5, de", "de"),
        ("de;q=0, en", "en"),
        ("de;q=x, en", "en"),
        ("*", "fr"),
        ("pt_BR", "pt-BR"),
        ("zh-TW, en;q=0.9", "en"),
        ("zh-Hant-HK", "fr"),
        ("de;level=1;q=0.1, en;q=0.5", "en"),
        ("de;q=nan, en", "en"),
        ("en;q=0.9, de;q=7", "de"),
    ],
)
def test_language_is_the_best_preference_with_texts(accept_language: str, language: str) -> None:
    """The language is the preferred one (by weight) that has texts, a region falling
    back to its language, else the default."""
    assert language == visit({"accept-language": accept_language}).language(KNOWN, "fr")


@pytest.mark.parametrize(
    ("forced", "language"),
    [("de", "de"), ("pt-BR", "pt-BR"), ("de-CH", "de"), ("xx", "en"), ("", "en"), (7, "en")],
)
def test_the_host_application_can_choose_the_language(forced: object, language: str) -> None:
    """``scope["state"]["consent_language"]`` wins over Accept-Language when it has
    texts (its region falling back); otherwise Accept-Language decides."""
    request = {
        **http_scope(headers=[(b"accept-language", b"en")]),
        "state": {"consent_language": forced},
    }
    seen = Visit.read(request, header_map(request), SETTINGS, codec_for(SETTINGS))
    assert language == seen.language(KNOWN, "fr")


def test_secure_follows_the_scheme_the_proxy_or_the_setting() -> None:
    """'auto' is Secure over https (as the trusted proxy reports it); 'always' and
    'never' decide alone."""
    behind = Settings(secret_keys=SETTINGS.secret_keys, trusted_proxy_hops=1)
    always = Settings(secret_keys=SETTINGS.secret_keys, secure_cookies="always")
    never = Settings(secret_keys=SETTINGS.secret_keys, secure_cookies="never")
    assert False is visit().secure(SETTINGS)
    assert True is visit(scheme="https").secure(SETTINGS)
    assert True is visit({"x-forwarded-proto": "https"}, settings=behind).secure(behind)
    assert False is visit({"x-forwarded-proto": "https"}).secure(SETTINGS)
    assert True is visit().secure(always)
    assert False is visit(scheme="https").secure(never)


# -- cookie_changes -----------------------------------------------------------------------


def accepted(*categories: str) -> Decision:
    return CODEC.new_decision(categories, "banner")


def test_accept_creates_the_visitor_and_session_ids() -> None:
    """A first accepted request gets new HttpOnly visitor and session cookies, and the
    identifiers it may be logged with are theirs."""
    cookies, ids = changes(visit(), accepted("analytics"))
    assert {"cl_vid", "cl_sid"} == set(cookies)
    assert (
        f"cl_vid={ids.visitor_id}; Path=/; Max-Age={SETTINGS.visitor_max_age}"
        in (cookies["cl_vid"])
    )
    assert (
        f"cl_sid={ids.session_id}; Path=/; Max-Age={SETTINGS.session_idle}" in (cookies["cl_sid"])
    )
    assert all("HttpOnly" in v for v in cookies.values())
    assert ids.visitor_id != ids.session_id


def test_accept_never_extends_the_visitor_id_but_restarts_the_session() -> None:
    """A returning visitor keeps both ids; only the session cookie is sent again, to
    restart its idle timer."""
    first = visit(cookies={"cl_consent": consent(["analytics"])})
    decision = CODEC.new_decision(["analytics"], "banner", first.cookie)
    _, issued = changes(first, decision)
    returning = visit(
        cookies={
            "cl_consent": CODEC.dumps(decision),
            "cl_vid": issued.visitor_id,
            "cl_sid": issued.session_id,
        }
    )
    cookies, ids = changes(returning, returning.decision)
    assert ["cl_sid"] == list(cookies)
    assert issued == ids


@pytest.mark.parametrize("decision", [None, accepted(), accepted("marketing")])
def test_without_analytics_traffic_and_governed_cookies_are_expired(
    decision: Decision | None,
) -> None:
    """Undecided, declined or withdrawn: the traffic-log cookies and the host cookies of
    categories not accepted are expired; other host cookies are left alone."""
    seen = visit(cookies={"cl_vid": VID, "cl_sid": SID, "_ga": "GA1", "_fbp": "fb", "theme": "x"})
    cookies, ids = changes(seen, decision)
    expected = {"cl_vid", "cl_sid", "_ga"} | (
        set() if decision is not None and "marketing" in decision.accepted else {"_fbp"}
    )
    assert expected == set(cookies)
    assert all("Max-Age=0" in v for v in cookies.values())
    assert Identifiers() == ids


def test_without_analytics_and_without_cookies_nothing_changes() -> None:
    """A visitor who sent no traffic cookie gets no Set-Cookie at all."""
    assert ({}, Identifiers()) == changes(visit(cookies={"theme": "x"}), accepted())


def test_a_bad_consent_cookie_is_expired() -> None:
    """A consent cookie that does not verify is expired, so the browser stops sending it."""
    cookies, _ = changes(visit(cookies={"cl_consent": "forged"}), None)
    assert ["cl_consent"] == list(cookies)
    assert "Max-Age=0" in cookies["cl_consent"]


def test_a_stale_or_replaced_consent_cookie_is_not_expired() -> None:
    """A stale cookie is kept (the banner says the policy changed), and so is a bad one
    about to be replaced by a new decision."""
    stale = consent(["analytics"], codec_for(revision=SETTINGS.policy_revision - 1))
    assert ({}, Identifiers()) == changes(visit(cookies={"cl_consent": stale}), None)
    cookies, _ = changes(visit(cookies={"cl_consent": "forged"}), accepted())
    assert "cl_consent" not in cookies


# -- bounded memory -----------------------------------------------------------------------


def test_forged_consent_cookies_do_not_grow_memory() -> None:
    """10,000 requests, each with a different 8 KB forged cl_consent, leave the heap where
    it was: neither the parsed headers nor the verified values keep them (before: 110 MB
    more RSS)."""
    codec = codec_for()
    scopes = [http_scope(headers=[(b"cookie", f"cl_consent={i:08d}.".encode() + b"A" * 8180)])
              for i in range(10_000)]  # fmt: skip
    Visit.read(scopes[0], header_map(scopes[0]), SETTINGS, codec)
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for scope in scopes:
            assert None is Visit.read(scope, header_map(scope), SETTINGS, codec).decision
        gc.collect()  # failed verifications leave exceptions in reference cycles
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown < 1_000_000


def test_the_header_of_a_verified_visitor_is_parsed_once() -> None:
    """A returning visitor's header is parsed once and then shared; a forged one each time."""
    good = {"cookie": f"cl_consent={consent([])}; theme=dark"}
    assert visit(good).cookies is visit(good).cookies
    bad = {"cookie": "cl_consent=forged; theme=dark"}
    assert visit(bad).cookies is not visit(bad).cookies


def test_800_governed_host_cookies_get_a_few_expiries_per_response() -> None:
    """A declined browser sending 800 _ga_N cookies gets at most MAX_EXPIRIES of them
    expired in one response (before: 755 Set-Cookie headers)."""
    sent = {f"_ga_{i}": "GA1" for i in range(800)}
    cookies, _ = changes(visit(cookies={"cl_consent": consent([]), **sent}), accepted())
    assert [f"_ga_{i}" for i in range(MAX_EXPIRIES)] == list(cookies)


# -- X-Forwarded-Host ---------------------------------------------------------------------


def test_the_forwarded_host_counts_only_when_the_site_trusts_it() -> None:
    """X-Forwarded-Host from a trusted proxy sets the host only with trust_forwarded_host."""
    sent = {"x-forwarded-host": "public.example"}
    behind = Settings(secret_keys=SETTINGS.secret_keys, trusted_proxy_hops=1)
    trusting = Settings(
        secret_keys=SETTINGS.secret_keys, trusted_proxy_hops=1, trust_forwarded_host=True
    )
    assert "testserver" == visit(sent, settings=behind).origin.host
    assert "public.example" == visit(sent, settings=trusting).origin.host
