"""``consentlog scan`` in headless Chromium: the demo sets nothing beyond necessary
before a choice or after Decline (exit 0, in every format); a page that sets a rogue
cookie and a storage key before consent fails the scan (exit 1) and names them; a site
without a consentlog banner, or no site, cannot be scanned (exit 2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

pytest.importorskip("playwright", reason="the browser tests need Playwright (the test extra)")

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.cli import main
from consentlog.testing import MemorySink

if TYPE_CHECKING:
    from tests.browser.live import LiveServer, StartServer

pytest_plugins = ["tests.browser.live"]
pytestmark = pytest.mark.browser

FAST = ["--wait", "150"]


def test_the_demo_sets_nothing_beyond_necessary_before_consent(
    live: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The demo: before a choice nothing at all; after Decline only the consent cookie;
    after Accept the traffic-log cookies and the host's analytics and marketing ones,
    each classified. Exit 0; the HTML declaration is a page with the same table."""
    assert 0 == main(["scan", live("/"), "--pages", "3", "--format", "json", *FAST])
    captured = capsys.readouterr()
    result = json.loads(captured.out)
    present = {e["name"]: (e["category"], e["present"]) for e in result["entries"]}
    assert {
        "cl_consent": ("necessary", ["declined", "accepted"]),
        "cl_vid": ("analytics", ["accepted"]),
        "cl_sid": ("analytics", ["accepted"]),
        "_ga": ("analytics", ["accepted"]),
        "_fbp": ("marketing", ["accepted"]),
    } == present
    assert [] == result["breaks_consent"]
    assert {"before": 3, "declined": 3, "accepted": 3} == {
        phase: len(pages) for phase, pages in result["pages"].items()
    }
    assert "none beyond necessary before a choice or after Decline" in captured.err
    google = next(e for e in result["entries"] if e["name"] == "_ga")
    assert ("Google Analytics", "configured") == (google["provider"], google["classified_by"])

    assert 0 == main(["scan", live("/"), "--pages", "1", "--format", "html", *FAST])
    page = capsys.readouterr().out
    assert page.startswith("<!doctype html>")
    assert "<td><code>cl_consent</code></td><td>cookie</td>" in page


async def _rogue(request: Request) -> HTMLResponse:
    # a tag that ignores consent: a cookie and a storage key set from JavaScript at once,
    # and a cookie of its own that the site never declared
    return HTMLResponse(
        "<!doctype html><html><head><title>Shop</title><script>"
        "document.cookie = '_ga=GA1.1.42; path=/; max-age=3600';"
        "localStorage.setItem('ajs_anonymous_id', 'x');</script></head>"
        '<body><h1>Shop</h1><a href="/two">next</a></body></html>',
        headers={"set-cookie": "tracker_x=1; Path=/"},
    )


async def _two(request: Request) -> HTMLResponse:
    return HTMLResponse("<!doctype html><html><body><p>Two</p></body></html>")


@pytest.fixture
def rogue() -> Iterator[LiveServer]:
    from tests.browser.live import SECRET, serve  # a plugin module: imported once loaded

    host = Starlette(routes=[Route("/", _rogue), Route("/two", _two)])
    live = serve(ConsentMiddleware(host, secret_keys=[SECRET], writer=MemorySink()))
    yield live
    live.stop()


def test_a_rogue_cookie_before_consent_fails_the_scan(
    rogue: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A script's ``_ga`` and ``ajs_anonymous_id`` and an undeclared server cookie are
    named, present before a choice and after Decline: exit 1. Declared necessary, the
    server cookie no longer counts."""
    assert 1 == main(["scan", rogue("/"), "--pages", "2", *FAST])
    captured = capsys.readouterr()
    assert "| `_ga` | cookie | Google Analytics |" in captured.out
    assert "before a choice, after Decline, after Accept" in captured.out
    for name in ("_ga", "ajs_anonymous_id", "tracker_x"):
        assert f"- `{name}`" in captured.out
        assert name in captured.err
    assert 1 == main(
        ["scan", rogue("/"), "--pages", "1", "--format", "json", "--necessary", "tracker_*", *FAST]
    )
    assert ["_ga", "ajs_anonymous_id"] == sorted(
        json.loads(capsys.readouterr().out)["breaks_consent"]
    )


def test_what_cannot_be_scanned_is_exit_2(
    live_server: StartServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """No banner to decline on (here: injection off), or no http(s) URL: exit 2 with
    the reason."""
    plain = live_server(inject_banner=False)
    assert 2 == main(["scan", plain("/"), "--pages", "1", *FAST])
    assert "no visible button '#cl-banner button[value=reject_all]'" in capsys.readouterr().err
    assert 2 == main(["scan", "file:///etc/passwd"])
    assert "is not an http(s) URL" in capsys.readouterr().err


@pytest.fixture
def moved() -> Iterator[LiveServer]:
    """A site whose address redirects: ``localhost`` sends the visitor to the same
    server as ``127.0.0.1``, whose pages link on (and once off the site again)."""
    from starlette.responses import RedirectResponse, Response

    from tests.browser.live import SECRET, serve

    box: dict[str, LiveServer] = {}

    async def go(request: Request) -> RedirectResponse:
        return RedirectResponse(box["live"]("/"), status_code=302)

    async def away(request: Request) -> RedirectResponse:  # a link that leaves the site
        return RedirectResponse(box["live"]("/two").replace("127.0.0.1", "localhost"), 302)

    async def home(request: Request) -> HTMLResponse:
        return HTMLResponse(
            '<!doctype html><html><body><a href="/away">away</a> <a href="/two">two</a>'
            "</body></html>"
        )

    async def text(request: Request) -> Response:  # no HTML page at all
        return Response("just text", media_type="text/plain")

    routes = [Route("/go", go), Route("/away", away), Route("/", home), Route("/two", _two),
              Route("/text", text)]  # fmt: skip
    live = box["live"] = serve(
        ConsentMiddleware(Starlette(routes=routes), secret_keys=[SECRET], writer=MemorySink())
    )
    yield live
    live.stop()


def test_the_site_is_where_the_start_url_leads(
    moved: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """The origin is the start page's after its redirects, its links followed; a link
    that redirects off the site is not a page of it, and counts toward ``--pages``."""
    start = moved("/go").replace("127.0.0.1", "localhost")
    assert 0 == main(["scan", start, "--pages", "3", "--format", "json", *FAST])
    result = json.loads(capsys.readouterr().out)
    assert {"before": [moved("/"), moved("/two")]} == {"before": result["pages"]["before"]}
    assert {"cl_consent", "cl_vid", "cl_sid"} == {e["name"] for e in result["entries"]}
    assert [] == result["breaks_consent"]


def test_a_site_without_an_html_page_is_no_pass(
    moved: LiveServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """A start URL that answers no HTML page scans nothing: exit 2, never a pass."""
    assert 2 == main(["scan", moved("/text"), "--pages", "2", *FAST])
    assert "no HTML page of" in capsys.readouterr().err
