"""Embeds held back until consent: the server turns each marked iframe into the iframe
(category accepted) or an accessible placeholder with a plain link (otherwise)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from consentlog.asgi.embeds import Embeds
from consentlog.settings import Settings
from consentlog.texts import shipped
from tests.helpers import SECRET, MakeApp

VIDEO = (
    '<iframe width="560" height="315" data-consent-src="https://www.youtube.com/embed/abc?start=30"'
    ' data-consent="marketing" title="Launch &amp; demo" allowfullscreen></iframe>'
)
PAGE = f"<!doctype html><html><head></head><body><main>{VIDEO}</main></body></html>"
SETTINGS = Settings(secret_keys=[SECRET])
EN = SETTINGS.banner_texts()["en"]


async def _page(request: Request) -> HTMLResponse:
    return HTMLResponse(request.query_params.get("html", PAGE))


def browser(make_app: MakeApp, **options: object) -> TestClient:
    app = make_app(Starlette(routes=[Route("/", _page)]), **options)
    return TestClient(app, base_url="http://testserver")


def test_a_visitor_without_consent_gets_the_placeholder(make_app: MakeApp) -> None:
    """Undecided: no iframe loads; the placeholder names YouTube and the category, its
    form posts the choice back to this page, its link goes to the video's page, and the
    embeds module comes along."""
    page = browser(make_app).get("/", params={"q": "1"}).text
    assert "<iframe src" not in page.split("<template>")[0]
    assert 'aria-label="Content from YouTube" lang="en" dir="ltr"' in page
    assert "which may set cookies. It loads only if you allow it (category “Marketing”)." in page
    assert '<input type="hidden" name="next" value="/?q=1">' in page
    assert '<input type="hidden" name="category" value="marketing">' in page
    assert 'href="https://www.youtube.com/watch?v=abc&amp;t=30"' in page
    template = re.search(r"<template>(.*?)</template>", page)
    assert template is not None
    assert template.group(1).startswith(
        '<iframe src="https://www.youtube-nocookie.com/embed/abc?start=30" width="560"'
    )
    assert re.search(r'<script src="/_consent/embeds\.js\?v=[0-9a-f]+" defer>', page)
    assert re.search(r'<link rel="stylesheet" href="/_consent/embeds\.css\?v=[0-9a-f]+">', page)


def test_always_allow_posts_the_category_and_the_page_comes_back_with_it(
    make_app: MakeApp,
) -> None:
    """The placeholder's form (no JavaScript) records marketing alongside what was
    accepted, 303 back; the page then has the iframe itself, and no embeds module."""
    client = browser(make_app)
    client.post("/_consent", json={"categories": {"analytics": True}})
    page = client.get("/").text
    assert '<input type="hidden" name="category" value="analytics">' in page
    answer = client.post(
        "/_consent",
        data={"action": "custom", "category": ["analytics", "marketing"], "next": "/"},
        follow_redirects=False,
    )
    assert (303, "/") == (answer.status_code, answer.headers["location"])
    page = client.get("/").text
    assert (
        '<iframe src="https://www.youtube-nocookie.com/embed/abc?start=30" width="560"'
        ' height="315" title="Launch &amp; demo" allowfullscreen></iframe>'
    ) in page
    assert "cl-embed" not in page
    assert "embeds.js" not in page


def test_youtube_nocookie_can_be_turned_off(make_app: MakeApp) -> None:
    """``youtube_nocookie=False`` keeps the page's own YouTube host."""
    client = browser(make_app, youtube_nocookie=False)
    client.post("/_consent", json={"action": "accept_all"})
    assert '<iframe src="https://www.youtube.com/embed/abc?start=30"' in client.get("/").text


def test_the_placeholder_speaks_the_visitor_language() -> None:
    """Texts, ``lang`` and ``dir`` are the visitor's (here Hebrew)."""
    hebrew = SETTINGS.banner_texts()["he"]
    body = Embeds(SETTINGS).rewrite(VIDEO.encode(), frozenset(), hebrew, "/").body.decode()
    assert 'lang="he" dir="rtl"' in body
    assert shipped()["he"]["embed_load_once"] in body
    assert hebrew.embed_link.replace("{provider}", "YouTube") in body


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # not an http(s) URL: an inert frame, never a javascript: one, nor the page's src
        (
            '<iframe data-consent-src="javascript:alert(1)" src="https://x.test/" title="t">'
            "</iframe>",
            '<iframe title="t"></iframe>',
        ),
        # a widget whose script makes the iframe: the notice opens the div
        (
            '<div data-consent-embed="marketing" data-consent-provider="X" '
            'data-consent-href="https://x.com/a/1"><script type="text/plain" '
            'data-consent="marketing" src="https://platform.x.test/w.js"></script></div>',
            '<div data-consent-embed="marketing" data-consent-provider="X" '
            'data-consent-href="https://x.com/a/1"><div class="cl-embed"',
        ),
        # a widget that names no provider and no link is left as marked (its script held)
        (
            '<div data-consent-embed="marketing"><script type="text/plain"></script></div>',
            '<div data-consent-embed="marketing"><script type="text/plain"></script></div>',
        ),
        # the provider of any other host is its name
        (
            '<iframe data-consent-src="//maps.example.org/e?q=1"></iframe>',
            '<div class="cl-embed" role="region" aria-label="Content from maps.example.org"',
        ),
        # a provider attribute wins, escaped like every text
        (
            '<iframe data-consent-src="https://v.test/1" data-consent-provider="A&lt;b&gt;">'
            "</iframe>",
            '<div class="cl-embed" role="region" aria-label="Content from A&lt;b&gt;"',
        ),
    ],
)
def test_marked_embeds(markup: str, expected: str) -> None:
    """Each marked form becomes what an undecided visitor may have."""
    body = Embeds(SETTINGS).rewrite(markup.encode(), frozenset(), EN, "/").body.decode()
    assert body.startswith(expected)


def test_a_page_in_another_charset_gets_references_for_what_it_lacks() -> None:
    """A latin-1 page gets the curly quotes as character references."""
    body = Embeds(SETTINGS).rewrite(VIDEO.encode(), frozenset(), EN, "/", "latin-1").body
    assert b"(category &#8220;Marketing&#8221;)" in body


FRAGMENTS = st.sampled_from(
    [
        "<iframe ",
        "data-consent-src=",
        '"https://a.test/x"',
        "'//b.test/'",
        "javascript:x",
        " data-consent=",
        "marketing",
        "analytics",
        "nope",
        " data-consent-embed ",
        "data-consent-provider=",
        "<div ",
        ">",
        "</iframe>",
        "</div>",
        '"',
        "'",
        "<",
        "&amp;",
        "é",
        " ",
        "=",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(FRAGMENTS, max_size=30).map("".join))
def test_any_markup_is_rewritten_without_an_error(markup: str) -> None:
    """Whatever a page holds around the markers, the rewrite neither fails nor loads a
    frame from anything but an http(s) URL."""
    for accepted in (frozenset(), frozenset({"marketing", "analytics"})):
        body = Embeds(SETTINGS).rewrite(markup.encode(), accepted, EN, "/").body.decode()
        for src in re.findall(r'<iframe src="([^"]*)"', body):
            assert src.startswith(("https://", "http://")), src


def test_a_hostile_page_is_served_whole(make_app: MakeApp) -> None:
    """A page of broken markers is still served, with a Content-Length that fits."""
    html = "<body><iframe data-consent-src=>'\"<iframe data-consent-src='https://a.test'</body>"
    response = browser(make_app).get("/", params={"html": html})
    assert 200 == response.status_code
    assert len(response.content) == int(response.headers["content-length"])
