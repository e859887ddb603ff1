"""Google Consent Mode v2, rendered on the server at the start of ``<head>``.

Google's tags read the consent state when they are configured, so the ``default`` must
come before any ``gtag("config", …)`` — which pages usually put in ``<head>``, before a
deferred script could run. With ``consent_mode`` on (or ``auto``, the default, on pages
whose head or footer mention Google's tags), an HTML page consentlog rewrites gets one inline
script at the start of its ``<head>`` (``asgi/document.py``): the default (denied, or a
region's own), the ads settings, for a visitor who has decided their decision as an
``update``, so that tags configured later start from it, and an ``update`` on every
decision made on the page (``banner.js``'s ``consentlog:change`` event). The script is
``templates/consent_mode.html``; its tag carries the request's CSP nonce. A page the
middleware cannot rewrite loads the same script, for the same visitor, from
``/_consent/consent-mode.js`` as the first thing in its ``<head>``.
"""

from __future__ import annotations

import functools
from html import escape

from consentlog.asgi.markup import TEMPLATES
from consentlog.settings import ANALYTICS, MARKETING, Settings

# each Consent Mode type, and the category that grants it
CONSENT_TYPES: dict[str, str] = {
    "ad_storage": MARKETING,
    "ad_user_data": MARKETING,
    "ad_personalization": MARKETING,
    "analytics_storage": ANALYTICS,
}
# what a page that loads or configures Google's tags holds ("auto")
GOOGLE_TAGS = (b"gtag(", b"googletagmanager.com", b"google-analytics.com", b"doubleclick.net")
_HEAD_LIMIT = 256 * 1024  # where a page's </head> is looked for
_TAIL = 4 * 1024  # the end of the body searched for a footer snippet
_HEAD_FLOOR = 4 * 1024  # the start of a page always searched


def consent_types(accepted: frozenset[str]) -> dict[str, str]:
    """Each Consent Mode type, granted when its category is in ``accepted``."""
    return {t: "granted" if c in accepted else "denied" for t, c in CONSENT_TYPES.items()}


class ConsentModeRenderer:
    """The inline Consent Mode script of one middleware, cached by decision."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._automatic = settings.consent_mode == "auto"
        self._template = TEMPLATES.get_template("consent_mode.html")

    def wanted(self, page: bytes) -> bool:
        """Whether ``page`` gets the script: always when ``consent_mode`` is on; with
        ``auto``, when its ``<head>`` (at least its first ``_HEAD_FLOOR`` bytes; up to
        ``_HEAD_LIMIT`` without a ``</head>``) or its end (from ``_TAIL`` bytes before
        ``</body>``) mentions Google's tags (a held-back one included): where Google's
        instructions and footer snippets put them. Only those parts are searched, so
        a 50 KB page costs a few short scans, not four of all of it; a tag in the
        middle of a body needs ``consent_mode="on"``."""
        if not self._automatic:
            return True
        gtag, manager, analytics, doubleclick = GOOGLE_TAGS  # no generator: on every page
        if len(page) <= _HEAD_FLOOR + _TAIL:  # a small page: all of it, at once
            return gtag in page or manager in page or analytics in page or doubleclick in page
        head = page.find(b"</head", 0, _HEAD_LIMIT)
        if head < 0:
            head = page.find(b"</HEAD", 0, _HEAD_LIMIT)
        if head < 0:  # no end of head (it is optional): as far as a head would go
            head = _HEAD_LIMIT
        # at least the page's first _HEAD_FLOOR bytes: a "</head" in a head script or
        # comment must not end the search before the tags
        head = min(len(page), max(head, _HEAD_FLOOR))
        end = page.rfind(b"</body", head)  # from the end backwards: near it, cheap
        tail = max(head, (end if end >= 0 else len(page)) - _TAIL)
        end = len(page)  # and what follows </body>
        find = page.find
        return (
            find(gtag, 0, head) >= 0 or find(manager, 0, head) >= 0
            or find(analytics, 0, head) >= 0 or find(doubleclick, 0, head) >= 0
            or find(gtag, tail, end) >= 0 or find(manager, tail, end) >= 0
            or find(analytics, tail, end) >= 0 or find(doubleclick, tail, end) >= 0
        )  # fmt: skip

    def snippet(self, accepted: frozenset[str] | None, nonce: str = "") -> bytes:
        """The script tag for a visitor who accepted ``accepted`` (None: has not
        decided), as bytes for the start of ``<head>``."""
        attribute = f' nonce="{escape(nonce)}"' if nonce else ""
        return b"".join((b"<script", attribute.encode(), b">", self.source(accepted), b"</script>"))

    @functools.lru_cache(maxsize=64)  # noqa: B019 - one renderer per middleware, bounded
    def source(self, accepted: frozenset[str] | None) -> bytes:
        """The script itself (ASCII): what the tag holds, and what
        ``/_consent/consent-mode.js`` serves to pages consentlog cannot rewrite."""
        s = self._settings
        wait_ms = s.consent_mode_wait_for_update
        wait = {"wait_for_update": wait_ms} if wait_ms else {}
        denied = consent_types(frozenset())
        regions = [
            {**consent_types(frozenset(CONSENT_TYPES.values()) if granted else frozenset()),
             **wait, "region": list(codes)}
            for codes, granted in s.consent_mode_region_defaults
        ]  # fmt: skip
        return self._template.render(
            default=denied | wait,
            regions=regions,
            redaction=s.consent_mode_ads_data_redaction,
            passthrough=s.consent_mode_url_passthrough,
            update=consent_types(accepted) if accepted is not None else None,
            types=CONSENT_TYPES,
        ).encode("ascii")
