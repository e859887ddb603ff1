"""The banner, rendered on the server as plain HTML forms (it works without JavaScript).

``BannerRenderer.render`` returns the markup for one visitor state; ``inject`` puts it
before ``</body>`` of an HTML document. The markup contract with ``js/src/banner.js`` is
described in ``docs/banner.md``.
"""

from __future__ import annotations

import functools
from html import escape
from typing import NamedTuple

from consentlog.asgi.assets import Asset
from consentlog.settings import ANALYTICS, Settings
from consentlog.texts import BannerTexts

_NEXT = "\x00next\x00"  # placeholder for the per-request return URL in cached markup
_NONCE = "\x00nonce\x00"


class BannerState(NamedTuple):
    """Everything the banner markup depends on, apart from the return URL and nonce."""

    language: str
    visible: bool
    accepted: frozenset[str]
    decided: bool
    policy_changed: bool


class BannerRenderer:
    """Renders the banner markup; variants are cached, only ``next`` and the nonce vary."""

    def __init__(self, settings: Settings, script: Asset, stylesheet: Asset) -> None:
        self._settings = settings
        self._script_url = escape(script.url(settings.prefix))
        self._style_url = escape(stylesheet.url(settings.prefix))

    def render(self, state: BannerState, next_url: str, nonce: str = "") -> str:
        """The banner markup (with its CSS and JS includes) for one visitor."""
        nonce_attr = f' nonce="{escape(nonce)}"' if nonce else ""
        return self._template(*state).replace(_NEXT, escape(next_url)).replace(_NONCE, nonce_attr)

    def snippet(self, state: BannerState, next_url: str, nonce: str = "") -> bytes:
        """``render`` as UTF-8 bytes, for insertion into a response body. Without a nonce
        the two halves around ``next`` come pre-encoded from a cache (the common case)."""
        if nonce:
            return self.render(state, next_url, nonce).encode("utf-8")
        head, tail = self._halves(state)
        return head + escape(next_url).encode("utf-8") + tail

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one renderer per middleware, bounded
    def _halves(self, state: BannerState) -> tuple[bytes, bytes]:
        template = self._template(*state)
        head, _, tail = template.replace(_NONCE, "").partition(_NEXT)
        return head.encode("utf-8"), tail.encode("utf-8")

    def _own_data(self, texts: BannerTexts) -> str:
        return _own_data_links(escape(self._settings.prefix), texts)

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one renderer per middleware, bounded
    def _template(
        self,
        language: str,
        visible: bool,
        accepted: frozenset[str],
        decided: bool,
        policy_changed: bool,
    ) -> str:
        s = self._settings
        t = s.texts.get(language) or s.texts[s.default_language]
        prefix = escape(s.prefix)
        categories = "".join(
            '<label class="cl-cat"><input type="checkbox" name="category" '
            f'value="{escape(c.name)}"'
            + (" checked disabled" if c.required else (" checked" if c.name in accepted else ""))
            + f"> <span><b>{escape(c.label)}</b> <small>{escape(c.description)}</small>"
            "</span></label>"
            for c in s.categories
        )
        notice = f'<p class="cl-notice">{escape(t.policy_changed)}</p>' if policy_changed else ""
        privacy = (
            f' <a href="{escape(s.privacy_url)}">{escape(t.privacy_link)}</a>'
            if s.privacy_url
            else ""
        )
        return (
            f'<link rel="stylesheet" href="{self._style_url}"{_NONCE}>'
            f'<script src="{self._script_url}" defer{_NONCE}></script>'
            f'<div id="cl-banner" class="cl" role="dialog" aria-modal="false" '
            f'aria-labelledby="cl-title" aria-describedby="cl-desc" data-prefix="{prefix}" '
            f'data-decided="{int(decided)}" data-accepted="{escape(" ".join(sorted(accepted)))}"'
            + ("" if visible else " hidden")
            + f'><form class="cl-form" method="post" action="{prefix}">'
            f'<input type="hidden" name="next" value="{_NEXT}">'
            f'<h2 id="cl-title" class="cl-title">{escape(t.title)}</h2>{notice}'
            f'<p id="cl-desc" class="cl-desc">{escape(t.description)}{privacy}</p>'
            '<div class="cl-actions">'
            '<button type="submit" name="action" value="reject_all" class="cl-btn">'
            f"{escape(t.decline)}</button>"
            '<button type="submit" name="action" value="accept_all" class="cl-btn">'
            f"{escape(t.accept)}</button></div>"
            f'<details class="cl-settings"><summary class="cl-summary">{escape(t.settings)}'
            '</summary><fieldset class="cl-cats">'
            f'<legend class="cl-legend">{escape(t.categories_legend)}</legend>{categories}'
            "</fieldset>"
            '<button type="submit" name="action" value="custom" class="cl-btn cl-save">'
            f"{escape(t.save)}</button>{self._own_data(t) if ANALYTICS in accepted else ''}"
            "</details></form></div>"
        )


def _own_data_links(prefix: str, texts: BannerTexts) -> str:
    """'See my data' and 'Delete my data' for a visitor whose data is stored. The delete
    button posts the banner's form to the forget route (no JavaScript needed)."""
    return (
        f'<p class="cl-data"><a href="{prefix}/my-data" target="_blank" rel="noopener">'
        f"{escape(texts.my_data)}</a> "
        f'<button type="submit" formaction="{prefix}/forget" formmethod="post" '
        f'class="cl-link">{escape(texts.forget)}</button></p>'
    )


def inject(document: bytes, snippet: bytes) -> bytes | None:
    """``document`` with ``snippet`` before its last ``</body>``; None if it has none."""
    index = document.rfind(b"</body>")
    if index < 0:
        index = document.rfind(b"</BODY>")
    if index < 0:
        return None
    return document[:index] + snippet + document[index:]
