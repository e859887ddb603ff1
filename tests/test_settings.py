"""Settings: keywords, environment variables, validation, and their documentation."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from consentlog.exceptions import ConfigError
from consentlog.settings import Settings

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_environment_variables_are_read() -> None:
    """CONSENTLOG_* variables set the options, with the right types."""
    settings = Settings.from_env(
        {
            "CONSENTLOG_SECRET_KEY": "old, new",
            "CONSENTLOG_POLICY_REVISION": "3",
            "CONSENTLOG_HONOR_DNT": "yes",
            "CONSENTLOG_FLUSH_INTERVAL": "0.5",
            "CONSENTLOG_CATEGORIES": json.dumps({"analytics": ["_ga*"], "ads": ["_fbp"]}),
        }
    )
    assert ("old", "new") == settings.secret_keys
    assert 3 == settings.policy_revision
    assert True is settings.honor_dnt
    assert 0.5 == settings.flush_interval
    assert ["necessary", "analytics", "ads"] == [c.name for c in settings.categories]


def test_keywords_win_over_environment() -> None:
    """A keyword option overrides the variable of the same option."""
    settings = Settings.from_env(
        {"CONSENTLOG_POLICY_REVISION": "3"}, secret_keys=["k"], policy_revision=7
    )
    assert 7 == settings.policy_revision


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "CONSENTLOG_SECRET_KEY"),
        (
            {"CONSENTLOG_SECRET_KEY": "k", "CONSENTLOG_POLICY_REVISION": "two"},
            "CONSENTLOG_POLICY_REVISION",
        ),
        ({"CONSENTLOG_SECRET_KEY": "k", "CONSENTLOG_HONOR_GPC": "maybe"}, "CONSENTLOG_HONOR_GPC"),
        (
            {"CONSENTLOG_SECRET_KEY": "k", "CONSENTLOG_CONSENT_MAX_AGE": "99999999"},
            "consent_max_age",
        ),
        ({"CONSENTLOG_SECRET_KEY": "k", "CONSENTLOG_PREFIX": "consent"}, "prefix"),
    ],
)
def test_bad_values_name_the_option(env: dict[str, str], named: str) -> None:
    """An unusable value raises ConfigError naming the option."""
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(env)


def test_every_option_is_documented() -> None:
    """docs/configuration.md lists every option with its variable."""
    text = DOCS.read_text(encoding="utf-8")
    for field in dataclasses.fields(Settings):
        assert f"`{field.name}`" in text, field.name
        if field.name not in {"page_filter", "secret_keys"}:
            assert f"CONSENTLOG_{field.name.upper()}" in text, field.name
