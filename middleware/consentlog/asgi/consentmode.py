"""Google Consent Mode v2, rendered on the server at the start of ``<head>``.

Google's tags read the consent state when they are configured, so the ``default`` must
come before any ``gtag("config", …)`` — which pages usually put in ``<head>``, before a
deferred script could run. With ``consent_mode`` on, every HTML page gets one small
inline script right after its ``<head>`` tag: the default (denied, or a region's own),
the ads settings, and for a visitor who has decided, their decision as an ``update``, so
that tags configured later in ``<head>`` start from it; and an ``update`` on every
decision made on the page (``banner.js``'s ``consentlog:change`` event). The script is
``templates/consent_mode.html``; its tag carries the request's CSP nonce. A page the
middleware cannot rewrite (streamed, compressed) loads the same script, for the same
visitor, from ``/_consent/consent-mode.js`` as the first thing in its ``<head>``.
"""

from __future__ import annotations

import functools
from html import escape

from consentlog.asgi.banner import TEMPLATES
from consentlog.settings import ANALYTICS, Settings

MARKETING = "marketing"
_TYPES = ("ad_storage", "ad_user_data", "ad_personalization", "analytics_storage")


def consent_types(accepted: frozenset[str]) -> dict[str, str]:
    """The Consent Mode types a set of accepted categories grants: the ad types with
    ``marketing``, ``analytics_storage`` with ``analytics``; the rest denied."""
    ads = "granted" if MARKETING in accepted else "denied"
    return {
        "ad_storage": ads,
        "ad_user_data": ads,
        "ad_personalization": ads,
        "analytics_storage": "granted" if ANALYTICS in accepted else "denied",
    }


class ConsentModeRenderer:
    """The inline Consent Mode script of one middleware, cached by decision."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._template = TEMPLATES.get_template("consent_mode.html")

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
        denied = dict.fromkeys(_TYPES, "denied")
        default: dict[str, object] = dict(denied)
        if s.consent_mode_wait_for_update:
            default["wait_for_update"] = s.consent_mode_wait_for_update
        regions = [
            {**dict.fromkeys(_TYPES, "granted" if granted else "denied"), "region": list(codes)}
            for codes, granted in s.consent_mode_region_defaults
        ]
        return self._template.render(
            default=default,
            regions=regions,
            redaction=s.consent_mode_ads_data_redaction,
            passthrough=s.consent_mode_url_passthrough,
            update=consent_types(accepted) if accepted is not None else None,
            ads=MARKETING,
            analytics=ANALYTICS,
        ).encode("ascii")
