"""Embeds held back until consent: the server turns each marked iframe into the iframe
(category accepted) or an accessible placeholder with a plain link (otherwise)."""

from __future__ import annotations

import re
import time
from xml.etree import ElementTree

import html5lib
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from consentlog.asgi.embeds import Embeds, marked
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
    # the frame carries its URL aside: a browser without <template> must not load it
    assert template.group(1).startswith(
        '<iframe data-consent-src="https://www.youtube-nocookie.com/embed/abc?start=30" width="560"'
    )
    assert re.search(r'<script src="/_consent/embeds\.js\?v=[0-9a-f]+" defer>', page)
    assert re.search(r'<link rel="stylesheet" href="/_consent/embeds\.css\?v=[0-9a-f]+">', page)


def test_always_allow_adds_the_category_to_the_current_decision(make_app: MakeApp) -> None:
    """The placeholder's form (no JavaScript) posts ``action=allow`` with its category
    only; the server adds it to what the visitor accepts *now* — here analytics, accepted
    in another tab after the page was made — and 303s back; the page then has the
    iframe itself, and no embeds module."""
    client = browser(make_app)
    page = client.get("/").text
    assert '<button type="submit" form="cl-allow-marketing" name="action" value="allow"' in page
    assert '<form id="cl-allow-marketing" method="post" action="/_consent" hidden>' in page
    client.post("/_consent", json={"categories": {"analytics": True}})  # another tab
    answer = client.post(
        "/_consent",
        data={"action": "allow", "category": "marketing", "next": "/"},
        follow_redirects=False,
    )
    assert (303, "/") == (answer.status_code, answer.headers["location"])
    state = client.get("/_consent").json()
    assert {"necessary": True, "analytics": True, "marketing": True} == state["categories"]
    page = client.get("/").text
    assert (
        '<iframe src="https://www.youtube-nocookie.com/embed/abc?start=30" width="560"'
        ' height="315" title="Launch &amp; demo" allowfullscreen></iframe>'
    ) in page
    assert "cl-embed" not in page
    assert "embeds.js" not in page


def test_allow_without_a_category_or_with_an_unknown_one_is_refused(make_app: MakeApp) -> None:
    """``allow`` names what it adds: none, or one the site does not have, is a 400."""
    client = browser(make_app)
    empty = client.post("/_consent", data={"action": "allow", "next": "/"})
    assert (400, "action 'allow' needs a form field 'category'") == (
        empty.status_code,
        empty.json()["error"],
    )
    unknown = client.post("/_consent", data={"action": "allow", "category": "x", "next": "/"})
    assert 400 == unknown.status_code
    assert "unknown category 'x'" == unknown.json()["error"]


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
            'data-consent-href="https://x.com/a/1"><span class="cl-embed"',
        ),
        # a widget that names no provider and no link is left as marked (its script held)
        (
            '<div data-consent-embed="marketing"><script type="text/plain"></script></div>',
            '<div data-consent-embed="marketing"><script type="text/plain"></script></div>',
        ),
        # the provider of any other host is its name
        (
            '<iframe data-consent-src="//maps.example.org/e?q=1"></iframe>',
            '<span class="cl-embed" role="region" aria-label="Content from maps.example.org"',
        ),
        # a provider attribute wins, escaped like every text
        (
            '<iframe data-consent-src="https://v.test/1" data-consent-provider="A&lt;b&gt;">'
            "</iframe>",
            '<span class="cl-embed" role="region" aria-label="Content from A&lt;b&gt;"',
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


def _loading_frames(page: str) -> list[tuple[str, str]]:
    """The (src, srcdoc) of each iframe a browser would load in ``page``, read by a
    WHATWG parser: every iframe with either, outside a <template>."""
    found: list[tuple[str, str]] = []

    def walk(element: ElementTree.Element) -> None:
        for child in element:
            if child.tag == "template":
                continue
            if child.tag == "iframe" and ({"src", "srcdoc"} & set(child.attrib)):
                found.append((child.attrib.get("src", ""), child.attrib.get("srcdoc", "")))
            walk(child)

    walk(html5lib.parse(page, namespaceHTMLElements=False))
    return found


@pytest.mark.parametrize(
    "markup",
    [
        # the marker in any letter case (a browser lowercases attribute names)
        '<IFRAME DATA-CONSENT-SRC="https://a.test/x" SRC="https://a.test/x"></IFRAME>',
        '<iframe Data-Consent-Src="https://a.test/x" src="https://a.test/x"></iframe>',
        # a ">" in a quoted value does not end the tag
        '<iframe title="a>b" data-consent-src="https://a.test/x" src="https://a.test/x"></iframe>',
        "<iframe title='<x>' data-consent-src=https://a.test/x src=https://a.test/x></iframe>",
        # no </iframe>: the frame runs to the end of the page, as in a browser
        '<p><iframe data-consent-src="https://a.test/x" src="https://a.test/x"><p>rest',
        # srcdoc is never kept: it would load the page it holds
        '<iframe data-consent-src="https://a.test/x" srcdoc="<img src=//t.test/p>"></iframe>',
        '<iframe data-consent-src="javascript:x" srcdoc="<script src=//t.test/s></script>">'
        "</iframe>",
        # the first of a repeated attribute wins, as in a browser
        '<iframe data-consent-src="https://a.test/x" data-consent-src="javascript:x"></iframe>',
        # in <noscript>: markup for a browser without scripts, rewritten on its own
        '<noscript><iframe data-consent-src="https://a.test/x" src="https://a.test/x">'
        "</iframe></noscript>",
        # whitespace and slashes between attributes
        '<iframe/data-consent-src="https://a.test/x"\f/src="https://a.test/x"></iframe>',
    ],
)
def test_a_marked_frame_never_loads_before_consent(markup: str) -> None:
    """However a marked frame is written, an undecided visitor's page loads nothing
    from it; accepted, it loads the URL of its marker and nothing else."""
    embeds = Embeds(SETTINGS)
    held = embeds.rewrite(markup.encode(), frozenset(), EN, "/").body.decode()
    assert [] == _loading_frames(held), held
    assert [] == _loading_frames(held.replace("noscript", "section")), held  # without scripts
    assert "cl-embed" in held or "javascript" in markup
    shown = embeds.rewrite(markup.encode(), frozenset({"marketing"}), EN, "/").body.decode()
    assert all(src == "https://a.test/x" and not doc for src, doc in _loading_frames(shown))


@pytest.mark.parametrize(
    "markup",
    [
        "<script>var s = '<iframe data-consent-src=\"https://a.test/x\"></iframe>';</script>",
        '<SCRIPT type="module">x = "<div data-consent-embed=m>";</SCRIPT >',
        '<!-- <iframe data-consent-src="https://a.test/x"></iframe> -->',
        '<textarea><iframe data-consent-src="https://a.test/x"></iframe></textarea>',
        '<style>/* <div data-consent-embed data-consent-provider="X"> */</style>',
        "<a title='<iframe data-consent-src=\"https://a.test/x\"></iframe>'>a</a>",
        '<img alt="<div data-consent-embed data-consent-provider=X>">',
        '<script>never closed <iframe data-consent-src="https://a.test/x"></iframe>',
    ],
)
def test_markers_in_scripts_comments_and_values_are_left_alone(markup: str) -> None:
    """Only a tag a browser makes is rewritten: the same text in a script, a comment, a
    text area or an attribute value is left byte for byte."""
    page = f"<p>before</p>{markup}<p>after</p>".encode()
    assert page == Embeds(SETTINGS).rewrite(page, frozenset(), EN, "/").body


def test_a_page_in_an_encoding_without_the_page_characters_is_rewritten() -> None:
    """An ASCII page's bytes beyond ASCII, and texts it cannot spell, become references:
    no error, whatever the branch."""
    markup = b'<iframe data-consent-src="javascript:x" title="caf\xe9"></iframe>'
    body = Embeds(SETTINGS).rewrite(markup, frozenset(), EN, "/", "ascii").body
    assert b'<iframe title="caf&#65533;"></iframe>' == body
    body = Embeds(SETTINGS).rewrite(VIDEO.encode(), frozenset(), EN, "/", "ascii").body
    assert b"&#8220;Marketing&#8221;" in body


def test_a_large_hostile_page_is_rewritten_in_one_pass() -> None:
    """Unclosed tags, quotes and frames, repeated over 200 KB, cost one linear pass (the
    former patterns backtracked for seconds on this)."""
    page = (b'<iframe data-consent-src="https://a.test/x" title="' + b"<div a='" * 25_000)[:200_000]
    started = time.perf_counter()
    body = Embeds(SETTINGS).rewrite(page, frozenset(), EN, "/").body
    assert time.perf_counter() - started < 2.0
    assert page == body  # a tag the page ends inside: a browser drops it
    for unit in (b"<iframe data-consent-src=", b"<div data-consent-embed ", b"<a title='", b"<!--"):
        page = unit * (200_000 // len(unit))
        started = time.perf_counter()
        Embeds(SETTINGS).rewrite(page, frozenset(), EN, "/")
        assert time.perf_counter() - started < 2.0, unit


def test_markers_in_any_case_mark_the_page() -> None:
    """``marked`` finds a marker in lower, Title or UPPER case, and nothing else."""
    assert marked(b'<IFRAME DATA-CONSENT-SRC="x">')
    assert marked(b"<div Data-Consent-Embed>")
    assert not marked(b'<script type="text/plain" data-consent="marketing"></script>')
    assert not marked(b'<a href="/_consent/settings" data-consent-open>Cookie settings</a>')


def test_an_uppercase_marked_page_is_rewritten_on_its_way_out(make_app: MakeApp) -> None:
    """Through the middleware: a frame marked in capitals, with a src of its own, loads
    nothing for an undecided visitor."""
    html = (
        '<html><body><a data-consent-open href="/s">settings</a><IFRAME '
        'DATA-CONSENT-SRC="https://www.youtube.com/embed/a" SRC="https://www.youtube.com/embed/a">'
        "</IFRAME></body></html>"
    )
    response = browser(make_app).get("/", params={"html": html})
    assert [] == _loading_frames(response.text)
    assert 'class="cl-embed"' in response.text


FRAGMENTS = st.sampled_from(
    [
        "<iframe ",
        "<IFRAME ",
        "data-consent-src=",
        "DATA-CONSENT-SRC=",
        '"https://a.test/x"',
        "'//b.test/'",
        "javascript:x",
        " data-consent=",
        "marketing",
        "analytics",
        "nope",
        " data-consent-embed ",
        "data-consent-provider=",
        " src=",
        " srcdoc=",
        "<div ",
        "<script>",
        "</script>",
        "<!--",
        "-->",
        "<template>",
        "</template>",
        "<noscript>",
        "</noscript>",
        "<svg><title>",
        "</svg>",
        "<select>",
        ">",
        "/",
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
    """Whatever a page holds around the markers, the rewrite neither fails nor makes a
    frame load: read by a WHATWG parser, every frame the page loads afterwards is one
    it loaded before (a frame of the page's own), or, accepted, one from an http(s)
    URL of a marker."""
    before = set(_loading_frames(markup))
    for accepted in (frozenset(), frozenset({"marketing", "analytics"})):
        body = Embeds(SETTINGS).rewrite(markup.encode(), accepted, EN, "/").body.decode()
        for src, doc in _loading_frames(body):
            if (src, doc) in before:
                continue
            assert accepted, body
            assert not doc, body
            assert src.startswith(("https://", "http://")), body


def test_a_hostile_page_is_served_whole(make_app: MakeApp) -> None:
    """A page of broken markers is still served, with a Content-Length that fits."""
    html = "<body><iframe data-consent-src=>'\"<iframe data-consent-src='https://a.test'</body>"
    response = browser(make_app).get("/", params={"html": html})
    assert 200 == response.status_code
    assert len(response.content) == int(response.headers["content-length"])


def test_a_fragment_without_body_still_has_its_embeds_held(make_app: MakeApp) -> None:
    """An HTML fragment (no ``</body>``, no head: an htmx swap, say) gets no banner, but
    its embeds are rewritten all the same, with a Content-Length that fits."""
    html = '<section><iframe data-consent-src="https://www.youtube.com/embed/a"></iframe></section>'
    response = browser(make_app).get("/", params={"html": html})
    assert [] == _loading_frames(response.text)
    assert 'class="cl-embed"' in response.text
    assert re.search(r'<script src="/_consent/embeds\.js\?v=[0-9a-f]+" defer>', response.text)
    assert len(response.content) == int(response.headers["content-length"])
    assert "private" in response.headers["cache-control"]


def test_a_necessary_embed_always_loads_and_the_placeholder_follows_the_theme() -> None:
    """No choice could let a necessary embed load, so it loads; a placeholder carries
    ``banner_theme`` for embeds.css."""
    markup = b'<iframe data-consent-src="https://maps.test/e" data-consent="necessary"></iframe>'
    body = Embeds(SETTINGS).rewrite(markup, frozenset(), EN, "/").body
    assert b'<iframe src="https://maps.test/e"></iframe>' == body
    dark = Embeds(Settings(secret_keys=[SECRET], banner_theme="dark"))
    assert b'data-theme="dark"' in dark.rewrite(VIDEO.encode(), frozenset(), EN, "/").body


def test_attribute_values_are_decoded_as_a_browser_decodes_them() -> None:
    """A query's ``&param=`` and a ``&copy2024`` stay as written (``html.unescape``
    would make ``¶m`` and ``©2024``); ``&amp;`` and ``&lt;`` are decoded."""
    markup = (
        '<iframe data-consent-src="https://maps.test/e?a=1&param=2&center=3&amp;z=4"'
        ' title="Map &copy2024 &lt;x&gt;"></iframe>'
    )
    body = Embeds(SETTINGS).rewrite(markup.encode(), frozenset({"marketing"}), EN, "/").body
    assert [("https://maps.test/e?a=1&param=2&center=3&z=4", "")] == _loading_frames(body.decode())
    assert 'title="Map &amp;copy2024 &lt;x&gt;"' in body.decode()


def test_a_hostile_host_costs_no_more_than_a_short_one() -> None:
    """A host of 100,000 labels is looked up by its last few (it took 30 s)."""
    host = "a." * 100_000 + "youtube.com"
    markup = f'<iframe data-consent-src="https://{host}/embed/x"></iframe>'.encode()
    started = time.perf_counter()
    Embeds(SETTINGS).rewrite(markup, frozenset(), EN, "/")
    assert time.perf_counter() - started < 2.0


def test_a_tag_cut_off_by_the_end_of_the_page_is_left_alone() -> None:
    """A browser drops a tag the page ends inside; so does the rewrite (a widget div
    read from there would have made its parent the widget)."""
    for markup in (
        b'<div><script type="text/plain" data-consent="marketing"></script></div>'
        b"<div data-consent-embed=marketing data-consent-provider=X",
        b'<p>x</p><iframe data-consent-src="https://a.test/x" src="https://a.test/x"',
    ):
        assert markup == Embeds(SETTINGS).rewrite(markup, frozenset(), EN, "/").body


def test_allow_keeps_only_categories_the_site_still_has(make_app: MakeApp) -> None:
    """A decision naming a category the site has since removed (same policy revision)
    is not a 400 for ``allow``: that category is dropped, the new one added."""
    from consentlog.settings import DEFAULT_CATEGORIES, Category

    extra = Category("video", "Video", "Embedded videos.", ())
    client = browser(make_app, categories=(*DEFAULT_CATEGORIES, extra))
    client.post("/_consent", json={"categories": {"video": True}})
    cookie = client.cookies.get("cl_consent")
    fewer = browser(make_app)
    answer = fewer.post(
        "/_consent",
        data={"action": "allow", "category": "marketing", "next": "/"},
        headers={"cookie": f"cl_consent={cookie}"},
        follow_redirects=False,
    )
    assert 303 == answer.status_code, answer.text
    assert {"necessary": True, "analytics": False, "marketing": True} == fewer.get(
        "/_consent"
    ).json()["categories"]


def test_a_placeholder_inside_a_form_of_the_page_leaves_that_form_alone(
    make_app: MakeApp,
) -> None:
    """The placeholder has no form of its own (a nested one would be ignored, its
    fields joining the page's): its button names the "Always allow" form at the end of
    the body, one per category, which posts only ``next`` and the category."""
    html = (
        '<html><body><form action="/comment" method="post"><textarea name="c"></textarea>'
        f"{VIDEO}{VIDEO}<button>Send</button></form></body></html>"
    )
    page = browser(make_app).get("/", params={"html": html}).text
    tree = html5lib.parse(page, namespaceHTMLElements=False)
    forms = {f.attrib.get("id", f.attrib["action"]): f for f in tree.iter("form")}
    assert {"/comment", "cl-allow-marketing"} <= set(forms)  # and the banner's
    named = {e.attrib.get("name") for e in forms["/comment"].iter() if e.tag in {"input", "button"}}
    assert {None, "action"} == named  # Send, and the placeholders' buttons (form= elsewhere)
    buttons = [b for b in tree.iter("button") if b.attrib.get("value") == "allow"]
    assert 2 == len(buttons)
    assert all("cl-allow-marketing" == b.attrib["form"] for b in buttons)
    fields = [(i.attrib["name"], i.attrib["value"]) for i in forms["cl-allow-marketing"].iter()
              if i.tag == "input"]  # fmt: skip
    assert ["next", "category"] == [name for name, _ in fields]
    assert fields[0][1].startswith("/?html=")
    assert "marketing" == fields[1][1]


def test_a_placeholder_in_a_paragraph_stays_in_it() -> None:
    """Editors wrap an embed in a <p>; the placeholder is phrasing content (spans), so
    a browser keeps it inside that one paragraph instead of splitting it."""
    body = Embeds(SETTINGS).rewrite(f"<p>{VIDEO}</p>".encode(), frozenset(), EN, "/").body
    tree = html5lib.parse(body.decode(), namespaceHTMLElements=False)
    paragraphs = list(tree.iter("p"))
    assert 1 == len(paragraphs)
    assert ["cl-embed"] == [e.attrib.get("class") for e in paragraphs[0]]


@pytest.mark.parametrize(
    "markup",
    [
        # an HTML integration point: its iframe is HTML, and would load
        '<svg><title><iframe data-consent-src="https://a.test/x" src="https://a.test/x">'
        "</iframe></title></svg>",
        '<svg><foreignObject><iframe data-consent-src="https://a.test/x" src="https://a.test/x">'
        "</iframe></foreignObject></svg>",
        '<math><mtext><iframe data-consent-src="https://a.test/x" src="https://a.test/x">'
        "</iframe></mtext></math>",
    ],
)
def test_a_marked_frame_in_svg_or_mathml_only_loses_its_src(markup: str) -> None:
    """SVG and MathML parse by other rules (no raw text; a placeholder's spans would end
    them), so a marked frame there keeps its place and loses what would load."""
    body = Embeds(SETTINGS).rewrite(markup.encode(), frozenset(), EN, "/").body.decode()
    assert [] == _loading_frames(body)
    assert markup.replace(' src="https://a.test/x"', "") == body


def test_a_select_ends_where_a_browser_ends_it() -> None:
    """In a <select> a <style> is no raw text: the select ends at its </select>, and a
    marked frame after it is held back."""
    markup = (
        '<select><style></select><iframe data-consent-src="https://a.test/x" '
        'src="https://a.test/x"></iframe></style>'
    )
    body = Embeds(SETTINGS).rewrite(markup.encode(), frozenset(), EN, "/").body.decode()
    assert [] == _loading_frames(body)
    assert "cl-embed" in body


def test_embeds_off_leaves_marked_pages_as_written(make_app: MakeApp) -> None:
    """``embeds=False`` (a site without embeds): pages are not searched; a marked frame
    goes out as written, loading nothing of its own."""
    page = browser(make_app, embeds=False).get("/").text
    assert "cl-embed" not in page
    assert VIDEO in page
    assert [] == _loading_frames(page)


def test_a_fragment_with_google_tags_keeps_its_embeds_module(make_app: MakeApp) -> None:
    """A fragment without </body> that gets the Consent Mode script (it mentions gtag)
    still gets the placeholders' forms and module at its end."""
    html = (
        "<script>gtag('event', 'x')</script><section>"
        '<iframe data-consent-src="https://www.youtube.com/embed/a"></iframe></section>'
    )
    page = browser(make_app).get("/", params={"html": html}).text
    assert "window.dataLayer" in page
    assert re.search(r'<script src="/_consent/embeds\.js\?v=[0-9a-f]+" defer>', page)
    assert '<form id="cl-allow-marketing"' in page


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text(max_size=300), max_size=4),
    st.text(max_size=300),
)
def test_allow_with_any_fields_is_a_redirect_or_a_named_4xx(
    categories: list[str], next_url: str
) -> None:
    """Whatever a hostile form sends as ``category`` and ``next`` (control characters,
    lone surrogates, huge values), ``allow`` answers 303 or a 4xx naming the problem,
    never a 500, and redirects only within the site."""
    from urllib.parse import quote

    from consentlog.asgi.middleware import ConsentMiddleware
    from consentlog.testing import MemorySink

    app = ConsentMiddleware(
        Starlette(routes=[Route("/", _page)]), secret_keys=[SECRET], writer=MemorySink()
    )
    fields = [("action", "allow"), ("next", next_url), *(("category", c) for c in categories)]
    body = "&".join(f"{k}={quote(v, errors='surrogatepass')}" for k, v in fields)
    answer = TestClient(app, base_url="http://testserver").post(
        "/_consent",
        content=body.encode(),
        headers={"content-type": "application/x-www-form-urlencoded"},
        follow_redirects=False,
    )
    assert answer.status_code in {303, 400}, answer.text
    if answer.status_code == 303:
        assert answer.headers["location"].startswith("/")
        assert not answer.headers["location"].startswith("//")
    else:
        assert answer.json()["error"]
