"""The visitor's words: every shipped language has every text, and operators override
any of them per language."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import pytest

from consentlog.exceptions import ConfigError
from consentlog.settings import DEFAULT_CATEGORIES, Category, Settings
from consentlog.texts import KEYS, catalogue, shipped

KEY = "k" * 40
CATALOGUE = Path(__file__).parents[1] / "middleware" / "consentlog" / "texts" / "catalogue"
# the 24 official languages of the EU, then the others the banner speaks
EU = [
    "bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "ga", "hr",
    "hu", "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv",
]  # fmt: skip
OTHERS = ["nb", "is", "tr", "uk", "pt-BR", "ja", "zh", "ko", "ar", "he"]
PLACEHOLDER = re.compile(r"\{\w+\}")


def test_every_language_is_shipped() -> None:
    """The 24 EU languages and ten more each have a catalogue file, and nothing else does."""
    assert sorted(EU + OTHERS) == sorted(shipped())


@pytest.mark.parametrize("tag", EU + OTHERS)
def test_every_language_has_every_key_and_placeholder(tag: str) -> None:
    """A catalogue has exactly English's keys, each a non-empty line of text with the
    same placeholders."""
    english = tomllib.loads((CATALOGUE / "en.toml").read_text("utf-8"))
    texts = tomllib.loads((CATALOGUE / f"{tag}.toml").read_text("utf-8"))
    assert list(english) == list(texts)
    assert set(KEYS) == set(english)
    for key, source in english.items():
        text = texts[key]
        assert isinstance(text, str), key
        assert text.strip() == text, key
        assert text, key
        assert not any(ord(c) < 32 for c in text), key  # one line: data-vote splits on \n
        assert sorted(PLACEHOLDER.findall(source)) == sorted(PLACEHOLDER.findall(text)), key
    if tag != "en":
        translated = [k for k in english if k != "marketing_label" and texts[k] != english[k]]
        assert len(english) - 3 <= len(translated), "mostly English?"


def test_right_to_left_languages_say_so() -> None:
    """Arabic and Hebrew lay out right to left; the others left to right."""
    texts = catalogue({}, ())
    assert {"ar", "he"} == {tag for tag, t in texts.items() if t.direction == "rtl"}


def test_an_override_replaces_one_text_of_one_language() -> None:
    """``texts={"de": {"accept": …}}`` changes that text and leaves the others."""
    settings = Settings(secret_keys=[KEY], texts={"de": {"accept": "Alle akzeptieren"}})
    texts = settings.banner_texts()
    assert "Alle akzeptieren" == texts["de"].accept
    assert shipped()["de"]["decline"] == texts["de"].decline
    assert shipped()["fr"]["accept"] == texts["fr"].accept


def test_a_new_language_needs_every_text() -> None:
    """A language without a catalogue is refused until every key is given, naming the
    missing ones; given whole, it is offered."""
    with pytest.raises(ConfigError, match=r"texts\[.ca.\]: no text for name, title"):
        Settings(secret_keys=[KEY], texts={"ca": {"accept": "Accepta"}})
    whole = dict(shipped()["es"]) | {"name": "Català", "accept": "Accepta"}
    texts = Settings(secret_keys=[KEY], texts={"ca": whole}).banner_texts()
    assert ("Accepta", "ltr", "ca") == (texts["ca"].accept, texts["ca"].direction, texts["ca"].tag)


@pytest.mark.parametrize(
    ("texts", "message"),
    [
        ({"de": {"acept": "Ja"}}, "unknown key 'acept'"),
        ({"de": {"accept": "  "}}, "no text for accept"),
        ({"de": {"accept": 1}}, "texts: use"),
        ({"de": "Ja"}, "texts: use"),
        ({"en": {"feedback_question": "Was this\r\nuseful?"}}, "a line break or control"),
    ],
)
def test_bad_overrides_are_refused_by_name(texts: object, message: str) -> None:
    """A misspelt key, an empty text or a wrong shape is a ConfigError saying which."""
    with pytest.raises(ConfigError, match=re.escape(message)):
        Settings(secret_keys=[KEY], texts=texts)  # type: ignore[arg-type]


def test_a_regional_form_starts_from_its_language() -> None:
    """``texts={"de-AT": {…}}`` needs only what differs from German."""
    texts = Settings(secret_keys=[KEY], texts={"de-AT": {"accept": "Passt"}}).banner_texts()
    assert ("Passt", shipped()["de"]["decline"]) == (texts["de-AT"].accept, texts["de-AT"].decline)


def test_only_the_languages_offered() -> None:
    """``languages`` narrows the offer; the default must be among them; an unknown one
    is refused."""
    settings = Settings(secret_keys=[KEY], languages=("en", "de"))
    assert {"en", "de"} == set(settings.banner_texts())
    with pytest.raises(ConfigError, match="default_language='en' has no banner texts"):
        Settings(secret_keys=[KEY], languages=("de",))
    with pytest.raises(ConfigError, match="languages: no texts for 'xx'"):
        Settings(secret_keys=[KEY], languages=("en", "xx"))


def test_categories_keep_words_they_were_configured_with() -> None:
    """A default category is translated; one configured with its own words keeps them in
    every language unless that language overrides them."""
    categories = (
        DEFAULT_CATEGORIES[0],
        Category("analytics", "Statistics", "We count visits with Matomo."),
        Category("chat", "Chat", "The support chat."),
    )
    settings = Settings(
        secret_keys=[KEY], categories=categories, texts={"de": {"chat_label": "Kundenchat"}}
    )
    texts = settings.banner_texts()
    german = texts["de"].categories
    assert shipped()["de"]["necessary_label"] == german["necessary"][0]
    assert ("Statistics", "We count visits with Matomo.") == german["analytics"]
    assert ("Kundenchat", "The support chat.") == german["chat"]
    assert ("Chat", "The support chat.") == texts["fr"].categories["chat"]


@pytest.mark.parametrize("suffix", [".json", ".toml"])
def test_overrides_from_a_file_in_the_environment(tmp_path: Path, suffix: str) -> None:
    """``CONSENTLOG_TEXTS`` names a JSON or TOML file of overrides."""
    path = tmp_path / f"texts{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps({"de": {"accept": "Ja, gerne"}}), "utf-8")
    else:
        path.write_text('[de]\naccept = "Ja, gerne"\n', "utf-8")
    environ = {"CONSENTLOG_SECRET_KEY": KEY, "CONSENTLOG_TEXTS": str(path)}
    assert "Ja, gerne" == Settings.from_env(environ).banner_texts()["de"].accept
