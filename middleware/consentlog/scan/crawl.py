"""The crawl of ``consentlog scan``: a site visited in headless Chromium three times, each
time as a fresh visitor (an empty browser profile) — making no decision, after Decline,
after Accept — recording every cookie and storage key the browser holds on each page.

Pages are followed breadth-first from the start URL through same-origin links, up to
``pages`` navigations a visit (a page that fails, is not HTML or leaves the site counts
too, so a scan ends however the site answers); the origin is the start page's after its
redirects. A decision is made on the first page with the banner's own buttons (or the
selectors given), and is taken when the button has gone. Playwright is imported only
here, when a scan runs; anything it fails at becomes a ``ScanError``.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal
from urllib.parse import urldefrag, urlsplit

from consentlog.exceptions import ConsentlogError

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext, Page

Phase = Literal["before", "declined", "accepted"]
PHASES: tuple[Phase, ...] = ("before", "declined", "accepted")
Kind = Literal["cookie", "localStorage", "sessionStorage"]
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
DECLINE = "#cl-banner button[value=reject_all]"
ACCEPT = "#cl-banner button[value=accept_all]"
_STORAGE = """() => {
  const keys = (s) => { try { return Object.keys(s); } catch (e) { return []; } };
  return [location.hostname, keys(localStorage), keys(sessionStorage)];
}"""


class ScanError(ConsentlogError):
    """The scan could not be carried out (no browser, the site does not answer, no banner)."""


@dataclass(frozen=True, slots=True)
class Sighting:
    """One cookie or storage key, seen on one page of one visit."""

    kind: Kind
    name: str
    domain: str  # the cookie's domain, or the storage's host
    phase: Phase
    page: str
    expires: float  # epoch seconds; -1 for a session cookie or a storage key


@dataclass
class Scan:
    """What the three visits found."""

    start: str
    started: float
    site: str = ""  # the host the start URL led to, after its redirects
    pages: dict[Phase, list[str]] = field(default_factory=dict)
    sightings: list[Sighting] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class Options:
    """How to scan: pages a visit, the wait for late cookies, the decision's buttons."""

    pages: int = 10
    wait_ms: int = 1000
    chromium: str | None = None  # the executable; None: Playwright's own
    decline: str = DECLINE
    accept: str = ACCEPT
    timeout_ms: int = 15_000
    skip_prefix: str = "/_consent"  # consentlog's own routes are not pages to crawl


def scan(start: str, options: Options) -> Scan:
    """Visit ``start`` and its same-origin pages as a fresh visitor three times."""
    parts = urlsplit(start)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ScanError(f"{start[:200]!r} is not an http(s) URL: give the site's address")
    result = Scan(start, time.time())
    with _browser(options) as browser:
        for phase in PHASES:
            _visit(browser, result, phase, options)
    return result


@contextmanager
def _browser(options: Options) -> Iterator[Browser]:
    try:
        from playwright.sync_api import Error, sync_playwright
    except ImportError:
        raise ScanError(
            "consentlog scan needs Playwright: pip install 'consentlog[scan]' (and a "
            "Chromium: --chromium /usr/bin/chromium)"
        ) from None
    with sync_playwright() as playwright:
        try:
            browser = playwright.chromium.launch(
                executable_path=options.chromium, args=list(CHROMIUM_ARGS)
            )
        except Error as exc:
            raise ScanError(
                f"Chromium did not start ({str(exc).splitlines()[0][:200]}): give its path "
                "with --chromium"
            ) from None
        try:
            yield browser
        except Error as exc:  # a page or the browser failed mid-scan
            raise ScanError(f"the browser failed: {str(exc).splitlines()[0][:200]}") from None
        finally:
            browser.close()


def _visit(browser: Browser, result: Scan, phase: Phase, options: Options) -> None:
    """One visit: pages breadth-first from the start, the decision on the first."""
    from playwright.sync_api import Error

    context = browser.new_context()
    context.set_default_timeout(options.timeout_ms)
    page = context.new_page()
    origin: tuple[str, str, int | None] | None = None  # known once the start page loaded
    queue = deque([urldefrag(result.start).url])
    queued = {queue[0]}
    visited: list[str] = []
    navigations = 0
    decided = phase == "before"
    try:
        while queue and navigations < options.pages:
            target = queue.popleft()
            navigations += 1
            try:
                response = page.goto(target, wait_until="load")
            except Error as exc:
                if origin is None:
                    raise ScanError(
                        f"{target[:200]} did not load: {str(exc).splitlines()[0][:200]}"
                    ) from None
                continue
            if origin is None:  # the start page, where its redirects led
                origin = _origin(page.url)
                result.site = result.site or origin[1]
            if (
                response is None
                or "html" not in response.headers.get("content-type", "")
                or _origin(page.url) != origin  # a link that redirected off the site
            ):
                continue
            page.wait_for_timeout(options.wait_ms)
            if _origin(page.url) != origin:  # a script sent the browser off the site
                continue
            if not decided:
                _decide(page, options.decline if phase == "declined" else options.accept, phase)
                decided = True
                page.wait_for_timeout(options.wait_ms)
            visited.append(page.url)
            _record(context, page, result, phase)
            for link in _links(page):
                url = urldefrag(link).url
                parts = urlsplit(url)
                if (
                    _origin(url) == origin
                    and url not in queued
                    and not parts.path.startswith(options.skip_prefix + "/")
                    and parts.path != options.skip_prefix
                ):
                    queued.add(url)
                    queue.append(url)
        if not visited:  # nothing was read: that is no pass
            raise ScanError(
                f"no HTML page of {result.start[:200]} was scanned "
                f"({'after ' + phase if phase != 'before' else 'before a choice'}): does it "
                "answer with Content-Type text/html?"
            )
        _record(context, page, result, phase)  # what the last page set after it was read
    finally:
        context.close()
    result.pages[phase] = visited


def _decide(page: Page, selector: str, phase: Phase) -> None:
    """Click the decision's button and wait until it has gone: consentlog's banner
    hides once the server has recorded the choice (its answer set the cookies), and a
    form post without JavaScript leaves the page."""
    button = page.locator(selector).first
    if button.count() == 0 or not button.is_visible():
        raise ScanError(
            f"no visible button {selector!r} to {'decline' if phase == 'declined' else 'accept'}"
            f" on {page.url[:200]}: is the site's banner consentlog's? Otherwise pass "
            "--decline-selector and --accept-selector"
        )
    from playwright.sync_api import Error

    button.click()
    try:
        button.wait_for(state="hidden")
    except Error:
        raise ScanError(
            f"{selector!r} was clicked on {page.url[:200]}, but the banner stayed: the "
            "decision was not taken"
        ) from None
    page.wait_for_load_state("load")


def _record(context: BrowserContext, page: Page, result: Scan, phase: Phase) -> None:
    """Every cookie of the context and every storage key of the page's frames, now."""
    for cookie in context.cookies():
        result.sightings.append(
            Sighting(
                "cookie",
                cookie.get("name", ""),
                cookie.get("domain", "").lstrip("."),
                phase,
                page.url,
                float(cookie.get("expires", -1)),
            )
        )
    for frame in page.frames:
        try:
            host, local, session = frame.evaluate(_STORAGE)
        except Exception:  # noqa: S112 - a frame that went away, or one we may not read
            continue
        stores: tuple[tuple[Kind, object], ...] = (
            ("localStorage", local),
            ("sessionStorage", session),
        )
        for kind, names in stores:
            if not isinstance(names, list):  # the page's own scripts answered
                continue
            for name in names:
                result.sightings.append(Sighting(kind, str(name), str(host), phase, page.url, -1))


def _links(page: Page) -> list[str]:
    """The page's links; none when it went away meanwhile (a refresh) or its scripts
    answer something else than a list of texts."""
    from playwright.sync_api import Error

    try:
        hrefs = page.eval_on_selector_all("a[href]", "(links) => links.map((a) => a.href)")
    except Error:
        return []
    return [h for h in hrefs if isinstance(h, str)] if isinstance(hrefs, list) else []


_DEFAULT_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> tuple[str, str, int | None]:
    """A URL's scheme, host and port, the scheme's default port as None."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:  # a link with a port out of range
        return "", "", None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    return scheme, host, None if port == _DEFAULT_PORTS.get(scheme) else port
