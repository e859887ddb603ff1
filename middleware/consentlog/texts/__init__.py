"""The words a visitor reads, per language.

Each language is a catalogue file, ``catalogue/<tag>.toml``; ``en.toml`` is the source the
others translate, with notes for translators. ``catalogue`` merges an operator's overrides
(``Settings.texts``: any key, per language, or a whole new language) over the shipped
files and gives each language's ``BannerTexts``. Which language a visitor reads is chosen
in ``consent.http.best_language``.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from importlib.resources import files
from typing import Literal

from consentlog.exceptions import ConfigError

RIGHT_TO_LEFT = frozenset(("ar", "he", "fa", "ur", "ps", "yi", "dv", "ckb", "sd", "ug"))
# tags browsers send for a language that a shipped catalogue has under another tag
ALIASES: Mapping[str, str] = {"no": "nb", "nn": "nb", "iw": "he"}
# the categories the catalogues translate, with the English texts they translate: a
# category configured with other words keeps its own words in every language
TRANSLATED_CATEGORIES: Mapping[str, tuple[str, str]] = {
    "necessary": ("Necessary", "Remembers your cookie choice. Always on."),
    "analytics": ("Analytics", "Counts visits and how pages are used, so we can improve them."),
    "marketing": ("Marketing", "Lets advertising partners measure and personalise ads."),
}


@dataclass(frozen=True, slots=True)
class BannerTexts:
    """Every text a visitor may read, in one language (keys as in ``catalogue/en.toml``)."""

    name: str
    title: str
    description: str
    privacy_link: str
    accept: str
    decline: str
    policy_changed: str
    settings: str
    categories_legend: str
    save: str
    necessary_label: str
    necessary_description: str
    analytics_label: str
    analytics_description: str
    marketing_label: str
    marketing_description: str
    my_data: str
    forget: str
    back: str
    nothing_linked: str
    store_unavailable: str
    erasure_pending: str
    erasure_failed: str
    feedback_question: str
    feedback_yes: str
    feedback_no: str
    feedback_thanks: str
    embed_label: str
    embed_notice: str
    embed_load_once: str
    embed_always: str
    embed_link: str
    tag: str = "en"  # the language tag, as in the banner's ``lang``
    # each configured category's (label, description) in this language
    categories: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    @property
    def direction(self) -> Literal["ltr", "rtl"]:
        """The writing direction, for the banner's ``dir``."""
        return "rtl" if primary(self.tag) in RIGHT_TO_LEFT else "ltr"


KEYS: tuple[str, ...] = tuple(
    f.name for f in fields(BannerTexts) if f.name not in {"tag", "categories"}
)
Category = tuple[str, str, str]  # name, label, description: what the texts need of one


def primary(tag: str) -> str:
    """The primary language subtag, lowercase (``pt`` of ``pt-BR``)."""
    return tag.split("-", 1)[0].lower()


@functools.cache
def shipped() -> Mapping[str, Mapping[str, str]]:
    """The shipped catalogues: language tag → key → text."""
    folder = files("consentlog.texts").joinpath("catalogue")
    found: dict[str, Mapping[str, str]] = {}
    for item in sorted(folder.iterdir(), key=lambda f: f.name):
        if item.name.endswith(".toml"):
            found[item.name.removesuffix(".toml")] = tomllib.loads(item.read_text("utf-8"))
    return found


def catalogue(
    overrides: Mapping[str, Mapping[str, str]], categories: Iterable[Category]
) -> dict[str, BannerTexts]:
    """Each language's texts: the shipped catalogue with ``overrides`` on top. A regional
    form the catalogue lacks (``de-AT``) starts from its language's; any other language
    it lacks must be given whole. ConfigError names a missing or unknown key, or a text
    that is not one line.

    A category's words come from, in order: the language's override
    (``<name>_label`` / ``<name>_description``), the catalogue when the category still has
    its default English words, and else the words it was configured with.
    """
    categories = tuple(categories)
    category_keys = {
        f"{name}_{part}" for name, _, _ in categories for part in ("label", "description")
    }
    languages: dict[str, BannerTexts] = {}
    base = shipped()
    for tag in sorted({*base, *overrides}):
        given = dict(overrides.get(tag, {}))
        unknown = set(given) - set(KEYS) - category_keys
        if unknown:
            raise ConfigError(
                f"texts[{tag!r}]: unknown key {sorted(unknown)[0]!r}; the keys are those of "
                "consentlog/texts/catalogue/en.toml, or <category>_label / _description"
            )
        # a regional form the catalogue lacks (de-AT) starts from its language (de)
        merged = {**base.get(tag, base.get(primary(tag), {})), **given}
        missing = [key for key in KEYS if not str(merged.get(key, "")).strip()]
        broken = [key for key, text in given.items() if any(ord(c) < 32 for c in str(text))]
        if broken:
            raise ConfigError(
                f"texts[{tag!r}][{broken[0]!r}]: a line break or control character; each "
                "text is one line"
            )
        if missing:
            raise ConfigError(
                f"texts[{tag!r}]: no text for {', '.join(missing[:5])}"
                f"{' …' if len(missing) > 5 else ''}: a language without a shipped "
                "catalogue needs every key of consentlog/texts/catalogue/en.toml"
            )
        words: dict[str, tuple[str, str]] = {}
        for name, label, description in categories:
            if (label, description) == TRANSLATED_CATEGORIES.get(name):
                label, description = merged[f"{name}_label"], merged[f"{name}_description"]
            words[name] = (
                str(given.get(f"{name}_label", label)),
                str(given.get(f"{name}_description", description)),
            )
        texts = {key: str(merged[key]) for key in KEYS}
        languages[tag] = BannerTexts(**texts, tag=tag, categories=words)
    return languages
