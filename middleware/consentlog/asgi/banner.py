"""The banner, rendered on the server as plain HTML forms (it works without JavaScript).

``BannerRenderer.render`` returns the markup for one visitor state (``asgi/document.py``
puts it into a page). The markup lives in ``templates/banner.html``; its contract with
``js/src/banner.js`` is described in ``docs/banner.md``.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from html import escape
from typing import NamedTuple

from markupsafe import Markup

from consentlog.asgi.assets import Asset
from consentlog.asgi.markup import TEMPLATES
from consentlog.settings import ANALYTICS, Settings
from consentlog.texts import BannerTexts

# placeholders in the cached markup for the per-request return URL and nonce attribute
_NEXT = Markup("\x00next\x00")
_NONCE = Markup("\x00nonce\x00")


class BannerState(NamedTuple):
    """Everything the banner markup depends on, apart from the return URL and nonce."""

    language: str
    visible: bool
    accepted: frozenset[str]
    decided: bool
    policy_changed: bool


class BannerRenderer:
    """Renders the banner markup; variants are cached, only ``next`` and the nonce vary."""

    def __init__(
        self,
        settings: Settings,
        texts: Mapping[str, BannerTexts],
        script: Asset,
        stylesheet: Asset,
    ) -> None:
        self._settings = settings
        self._texts = texts
        self._default = texts[settings.default_language]
        self._script_url = script.url(settings.prefix)
        self._style_url = stylesheet.url(settings.prefix)
        self._template = TEMPLATES.get_template("banner.html")

    def render(
        self,
        state: BannerState,
        next_url: str,
        nonce: str = "",
        *,
        script: bool = True,
        settings_open: bool = False,
    ) -> str:
        """The whole banner markup with its stylesheet link for one visitor (hidden when
        they have decided); with the script tag too unless ``script=False`` (for a page
        that already loaded the script); its Settings layer open if ``settings_open``."""
        nonce_attr = f' nonce="{escape(nonce)}"' if nonce else ""
        markup = self._markup(state, script=script, settings_open=settings_open)
        return markup.replace(_NEXT, escape(next_url)).replace(_NONCE, nonce_attr)

    def snippet(self, state: BannerState, next_url: str, nonce: str = "") -> bytes:
        """What a page gets, as UTF-8 bytes for insertion into its body: the banner for a
        visitor who has not decided; for one who has, only the stylesheet link and the
        script tag (carrying the decision), as the script fetches the banner when a
        ``data-consent-open`` element asks for it. Without a nonce, from a cache."""
        if state.decided:
            if nonce:
                tags = self._markup(state, script=True, tags_only=True)
                return tags.replace(_NONCE, f' nonce="{escape(nonce)}"').encode("utf-8")
            return self._tags_bytes(state)
        if nonce:
            return self.render(state, next_url, nonce).encode("utf-8")
        head, tail = self._halves(state)
        return head + escape(next_url).encode("utf-8") + tail

    def texts(self, language: str) -> BannerTexts:
        """The texts in ``language`` (the default language's when it has none)."""
        return self._texts.get(language) or self._default

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one renderer per middleware, bounded
    def _halves(self, state: BannerState) -> tuple[bytes, bytes]:
        head, _, tail = self._markup(state, script=True).replace(_NONCE, "").partition(_NEXT)
        return head.encode("utf-8"), tail.encode("utf-8")

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one renderer per middleware, bounded
    def _tags_bytes(self, state: BannerState) -> bytes:
        tags = self._markup(state, script=True, tags_only=True)
        return tags.replace(_NONCE, "").encode("utf-8")

    @functools.lru_cache(maxsize=256)  # noqa: B019 - one renderer per middleware, bounded
    def _markup(
        self,
        state: BannerState,
        *,
        script: bool,
        tags_only: bool = False,
        settings_open: bool = False,
    ) -> str:
        s = self._settings
        texts = self.texts(state.language)
        return self._template.render(
            script=script,
            tags_only=tags_only,
            settings_open=settings_open,
            script_url=self._script_url,
            style_url=self._style_url,
            next_url=_NEXT,
            nonce=_NONCE,
            prefix=s.prefix,
            theme=s.banner_theme,
            position=s.banner_position,
            privacy_url=s.privacy_url,
            categories=s.categories,
            texts=texts,
            # the vote widget's words, for banner.js: question, yes, no, thanks
            vote="\n".join(
                (
                    texts.feedback_question,
                    texts.feedback_yes,
                    texts.feedback_no,
                    texts.feedback_thanks,
                )
            ),
            visible=state.visible,
            accepted=state.accepted,
            decided=state.decided,
            policy_changed=state.policy_changed,
            own_data=ANALYTICS in state.accepted,
        )


def settings_page(renderer: BannerRenderer, state: BannerState, next_url: str) -> str:
    """The cookie settings page (``/_consent/settings``): the banner shown with its
    Settings layer open, for a visitor without JavaScript who followed a
    ``data-consent-open`` link; its form returns them to ``next_url``."""
    texts = renderer.texts(state.language)
    banner = renderer.render(state._replace(visible=True), next_url, settings_open=True)
    return TEMPLATES.get_template("settings.html").render(
        language=texts.tag,
        direction=texts.direction,
        title=f"{texts.title}: {texts.settings}",
        back=texts.back,
        next_url=next_url,
        banner=Markup(banner),  # noqa: S704 - rendered from the autoescaped banner template
    )
