"""Reading requests: headers, the origin behind proxies, same-origin checks, redirects."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consentlog.consent.http import (
    Origin,
    best_language,
    cross_site_reason,
    first_language,
    header_map,
    origin_from,
    origin_of,
    safe_next,
    site_host,
    text,
)
from consentlog.testing import http_scope

SITE = Origin("https", "example.org", "203.0.113.7")


def headers(**values: str) -> dict[bytes, bytes]:
    """A header map from keywords (``sec_fetch_site`` → ``sec-fetch-site``)."""
    return {k.replace("_", "-").encode(): v.encode() for k, v in values.items()}


# -- header_map and text ------------------------------------------------------------------


def test_header_map_joins_repeated_headers() -> None:
    """Repeated headers are joined with ', ', and repeated Cookie headers with '; '."""
    scope = http_scope(
        headers=[
            (b"accept", b"text/html"),
            (b"accept", b"*/*"),
            (b"cookie", b"a=1"),
            (b"cookie", b"b=2"),
        ]
    )
    assert {
        b"host": b"testserver",
        b"accept": b"text/html, */*",
        b"cookie": b"a=1; b=2",
    } == header_map(scope)


def test_header_map_of_a_scope_without_headers_is_empty() -> None:
    """A scope without headers (or with None) gives an empty map."""
    assert {} == header_map({"type": "http"})
    assert {} == header_map({"type": "http", "headers": None})


def test_text_decodes_latin_1_and_cuts() -> None:
    """A header is read as latin-1 text, at most ``limit`` characters; missing is ''."""
    found = {b"user-agent": "Café".encode("latin-1") + b"x" * 10}
    assert "Café" == text(found, b"user-agent", 4)
    assert "" == text(found, b"referer")


# -- origin_of ----------------------------------------------------------------------------


def test_origin_without_a_proxy_is_the_connection() -> None:
    """Without trusted proxies the scheme, Host and client address are the connection's,
    whatever X-Forwarded-* say."""
    scope = http_scope(client=("198.51.100.7", 5000), host=b"Example.ORG")
    found = {
        **header_map(scope),
        **headers(x_forwarded_for="203.0.113.9", x_forwarded_proto="https"),
    }
    assert Origin("http", "example.org", "198.51.100.7") == origin_of(scope, found, 0)


@pytest.mark.parametrize(
    ("forwarded_for", "hops", "client_ip"),
    [
        ("203.0.113.9", 1, "203.0.113.9"),
        ("198.51.100.1, 203.0.113.9", 1, "203.0.113.9"),  # the nearest proxy's entry
        ("198.51.100.1, 203.0.113.9", 2, "198.51.100.1"),
        ("203.0.113.9", 3, "203.0.113.9"),  # fewer entries than hops: the first
        (" , ", 1, "192.0.2.1"),  # nothing usable: the connection's address
    ],
)
def test_origin_behind_trusted_proxies(forwarded_for: str, hops: int, client_ip: str) -> None:
    """With ``hops`` trusted proxies the client is the entry ``hops`` from the right of
    X-Forwarded-For, and the nearest proxy's X-Forwarded-Proto wins (and its
    X-Forwarded-Host, where the site trusts it)."""
    scope = http_scope(client=("192.0.2.1", 5000))
    found = {
        **header_map(scope),
        **headers(
            x_forwarded_for=forwarded_for,
            x_forwarded_proto="http, HTTPS",
            x_forwarded_host="Public.Example",
        ),
    }
    assert Origin("https", "public.example", client_ip) == origin_of(
        scope, found, hops, forwarded_host=True
    )


def test_x_forwarded_host_counts_only_when_configured_and_from_a_trusted_proxy() -> None:
    """X-Forwarded-Host is ignored unless the site trusts it and trusts a proxy at all."""
    scope = http_scope(host=b"site.example")
    found = {**header_map(scope), **headers(x_forwarded_host="evil.example")}
    assert ["site.example", "site.example", "site.example", "evil.example"] == [
        origin_of(scope, found, hops, forwarded_host=trusted).host
        for hops, trusted in ((0, False), (0, True), (1, False), (1, True))
    ]


def test_origin_without_host_uses_the_server_address() -> None:
    """No Host header: the ASGI server's address, else localhost."""
    scope = {**http_scope(), "headers": [], "server": ("10.0.0.1", 8000)}
    assert "10.0.0.1:8000" == origin_of(scope, {}, 0).host
    assert "localhost" == origin_of({"type": "http"}, {}, 0).host
    assert "" == origin_of({"type": "http"}, {}, 0).client_ip


def test_https_is_https_or_wss() -> None:
    """An origin is https when reached over https or wss."""
    assert [True, True, False] == [
        Origin(scheme, "h", "").https for scheme in ("https", "wss", "http")
    ]


# -- cross_site_reason --------------------------------------------------------------------


@pytest.mark.parametrize(
    "sent",
    [
        {},
        {"sec_fetch_site": "same-origin"},
        {"sec_fetch_site": "none"},
        {"sec_fetch_site": "Same-Origin"},
        {"origin": "https://example.org"},
        {"origin": "https://EXAMPLE.org"},
        {"sec_fetch_site": "same-origin", "origin": "https://example.org"},
    ],
)
def test_same_origin_requests_pass(sent: dict[str, str]) -> None:
    """Same-origin requests, and requests from non-browser clients, have no reason."""
    assert None is cross_site_reason(headers(**sent), SITE)


BY_FETCH_SITE = "cross-site request refused (Sec-Fetch-Site: {})"
BY_ORIGIN = "cross-origin request refused (Origin: {})"


@pytest.mark.parametrize(
    ("sent", "reason"),
    [
        ({"sec_fetch_site": "cross-site"}, BY_FETCH_SITE.format("cross-site")),
        ({"sec_fetch_site": "same-site"}, BY_FETCH_SITE.format("same-site")),
        (
            {"sec_fetch_site": "cross-site", "origin": "https://example.org"},
            BY_FETCH_SITE.format("cross-site"),
        ),
        ({"origin": "https://evil.example"}, BY_ORIGIN.format("https://evil.example")),
        ({"origin": "null"}, BY_ORIGIN.format("null")),
        ({"origin": "http://example.org"}, BY_ORIGIN.format("http://example.org")),
        ({"origin": "https://example.org:8443"}, BY_ORIGIN.format("https://example.org:8443")),
        (
            {"origin": "https://example.org.evil.example"},
            BY_ORIGIN.format("https://example.org.evil.example"),
        ),
    ],
)
def test_cross_site_requests_are_refused_with_a_reason(sent: dict[str, str], reason: str) -> None:
    """Sec-Fetch-Site decides when sent; otherwise an Origin must name this scheme and host."""
    assert reason == cross_site_reason(headers(**sent), SITE)


@pytest.mark.parametrize(
    ("scheme", "host", "sent", "same"),
    [
        ("https", "example.org:443", "https://example.org", True),
        ("http", "example.org:80", "http://example.org", True),
        ("http", "example.org:8000", "http://example.org:8000", True),
        ("http", "example.org:8000", "http://example.org", False),
        ("https", "example.org:80", "https://example.org", False),
        ("http", "[::1]:80", "http://[::1]", True),
        ("https", "[::1]", "https://[::1]", True),
        ("wss", "example.org", "https://example.org", True),
    ],
)
def test_the_origin_compared_is_the_browsers_serialisation(
    scheme: str, host: str, sent: str, same: bool
) -> None:
    """A default port in Host is no difference; any other port or scheme is."""
    reason = cross_site_reason(headers(origin=sent), Origin(scheme, host, ""))
    assert same is (reason is None)


def test_tls_ending_at_a_trusted_proxy_is_same_origin_only_with_its_scheme() -> None:
    """Behind a trusted proxy the forwarded scheme decides; without trust, the socket's."""
    scope = {**http_scope(host=b"example.org"), "scheme": "http"}
    sent = {"origin": "https://example.org", "x_forwarded_proto": "https"}
    found = headers(host="example.org", **sent)
    assert None is cross_site_reason(found, origin_of(scope, found, 1))
    assert BY_ORIGIN.format("https://example.org") == cross_site_reason(
        found, origin_of(scope, found, 0)
    )


def test_a_long_origin_is_cut_in_the_reason() -> None:
    """The reason quotes at most 100 characters of a foreign Origin."""
    reason = cross_site_reason(headers(origin="https://" + "a" * 300), SITE)
    assert reason is not None
    assert reason.endswith("a" * 92 + ")")
    assert len(reason) < 150


# -- safe_next ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/docs/a", "/docs/a"),
        ("/docs/a?tab=2&x=%20#top", "/docs/a?tab=2&x=%20#top"),
        ("/docs/café", "/docs/caf%C3%A9"),
        ("/", "/"),
        ("", "/"),
        ("docs/a", "/"),
        ("https://evil.example/", "/"),
        ("//evil.example", "/"),
        ("/\\evil.example", "/"),
        ("/docs\\..\\evil", "/"),
        ("/docs/a\r\nSet-Cookie: x=1", "/"),
        ("/docs/\ta", "/"),
        ("/docs/\x7fa", "/"),
        ("/docs/\x85a", "/"),
        ("/docs/ a", "/"),
        ("/" + "a" * 2048, "/"),
    ],
)
def test_safe_next_keeps_only_local_paths(target: str, expected: str) -> None:
    """A local path is kept (non-ASCII percent-encoded as UTF-8); anything that could
    leave the site, or carries control characters or spaces, goes home."""
    assert expected == safe_next(target)


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/analytics", "/analytics"),
        ("/analytics/pages?sort=path", "/analytics/pages?sort=path"),
        ("/analyticsx", "/analytics/"),
        ("/docs/a", "/analytics/"),
        ("//evil.example/analytics/", "/analytics/"),
        ("", "/analytics/"),
        ("/analytics/../x", "/analytics/"),
        ("/analytics/%2e%2e/x", "/analytics/"),
        ("/analytics/./pages", "/analytics/"),
        ("/analytics/pages?next=../x", "/analytics/pages?next=../x"),
        ("/analytics/v1.2/..x", "/analytics/v1.2/..x"),
    ],
)
def test_safe_next_under_a_base_stays_under_it(target: str, expected: str) -> None:
    """With a base (the dashboard's mount), only paths under it are kept; home is
    ``base + "/"``."""
    assert expected == safe_next(target, base="/analytics")


# -- first_language, best_language -------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("de-AT,de;q=0.9,en;q=0.5", "de"),
        ("EN-us", "en"),
        ("*, fr", "fr"),
        ("x1, 12, fr", "fr"),
        ("", ""),
        ("abcdefghijk", "abcdefgh"),
    ],
)
def test_first_language(header: str, expected: str) -> None:
    """The first primary language tag, lower-cased (what a page request is stored with)."""
    assert expected == first_language(header)


@given(st.text(max_size=300))
def test_best_language_takes_any_header(header: str) -> None:
    """Any header yields one of the known tags or ''."""
    assert best_language(header, frozenset(("en", "pt-BR"))) in {"", "en", "pt-BR"}


def test_best_language_prefers_a_regional_form_to_the_next_language() -> None:
    """``pt`` is met by ``pt-BR`` when that is the only Portuguese, before English."""
    assert "pt-BR" == best_language("pt, en;q=0.8", frozenset(("en", "pt-BR")))


@pytest.mark.parametrize(
    ("scheme", "host", "site"),
    [
        ("https", "example.org:443", "example.org"),
        ("http", "example.org:80", "example.org"),
        ("wss", "example.org:443", "example.org"),
        ("https", "example.org:80", "example.org:80"),
        ("http", "example.org:8080", "example.org:8080"),
        ("https", "[::1]:443", "[::1]"),
        ("https", "[::1]", "[::1]"),
        ("https", ":443", ":443"),
    ],
)
def test_a_site_host_has_no_default_port(scheme: str, host: str, site: str) -> None:
    assert site_host(scheme, host) == site
    assert origin_from(scheme, "", None, {b"host": host.encode()}, 0).host == site


def test_a_forwarded_host_is_cut_like_a_host_header() -> None:
    """X-Forwarded-Host (from a trusted proxy) is cut to a host's length, as Host is."""
    headers = {b"host": b"example.org", b"x-forwarded-host": b"h" * 2000}
    origin = origin_from("https", "", None, headers, 1, forwarded_host=True)
    assert origin.host == "h" * 255
