"""Settings: keywords, environment variables, validation, and their documentation."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from consentlog.exceptions import ConfigError
from consentlog.settings import Settings

KEY = "settings-test-key-long-enough-0123456789"
OLD = "old-settings-key-long-enough-0123456789"
NEW = "new-settings-key-long-enough-0123456789"

DOCS = Path(__file__).resolve().parent.parent / "docs" / "configuration.md"


def test_environment_variables_are_read() -> None:
    """CONSENTLOG_* variables set the options, with the right types."""
    settings = Settings.from_env(
        {
            "CONSENTLOG_SECRET_KEY": f"{OLD}, {NEW}",
            "CONSENTLOG_POLICY_REVISION": "3",
            "CONSENTLOG_HONOR_DNT": "yes",
            "CONSENTLOG_FLUSH_INTERVAL": "0.5",
            "CONSENTLOG_CATEGORIES": json.dumps({"analytics": ["_ga*"], "ads": ["_fbp"]}),
        }
    )
    assert (OLD, NEW) == settings.secret_keys
    assert 3 == settings.policy_revision
    assert True is settings.honor_dnt
    assert 0.5 == settings.flush_interval
    assert ["necessary", "analytics", "ads"] == [c.name for c in settings.categories]


def test_keywords_win_over_environment() -> None:
    """A keyword option overrides the variable of the same option."""
    settings = Settings.from_env(
        {"CONSENTLOG_POLICY_REVISION": "3"}, secret_keys=[KEY], policy_revision=7
    )
    assert 7 == settings.policy_revision


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "CONSENTLOG_SECRET_KEY"),
        (
            {"CONSENTLOG_SECRET_KEY": KEY, "CONSENTLOG_POLICY_REVISION": "two"},
            "CONSENTLOG_POLICY_REVISION",
        ),
        ({"CONSENTLOG_SECRET_KEY": KEY, "CONSENTLOG_HONOR_GPC": "maybe"}, "CONSENTLOG_HONOR_GPC"),
        (
            {"CONSENTLOG_SECRET_KEY": KEY, "CONSENTLOG_CONSENT_MAX_AGE": "99999999"},
            "consent_max_age",
        ),
        ({"CONSENTLOG_SECRET_KEY": KEY, "CONSENTLOG_PREFIX": "consent"}, "prefix"),
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


@pytest.mark.parametrize("variable", ["CONSENTLOG_SECRET_KEYS", "CONSENTLOG_SECRET_KEY"])
def test_either_secret_key_variable_sets_the_keys(variable: str) -> None:
    """CONSENTLOG_SECRET_KEYS and CONSENTLOG_SECRET_KEY are the same option."""
    assert (OLD, NEW) == Settings.from_env({variable: f"{OLD},{NEW}"}).secret_keys


def test_two_different_secret_key_variables_are_refused() -> None:
    """Both key variables set to different keys is an error naming both, not a guess."""
    with pytest.raises(ConfigError, match="CONSENTLOG_SECRET_KEYS and CONSENTLOG_SECRET_KEY"):
        Settings.from_env({"CONSENTLOG_SECRET_KEYS": "a", "CONSENTLOG_SECRET_KEY": "b"})


def test_store_commands_need_no_key() -> None:
    """Without a key, settings for what signs nothing still load; a signer refuses them."""
    settings = Settings.from_env({"CONSENTLOG_DATABASE": "site"}, require_secret_keys=False)
    assert "site" == settings.database
    assert () == settings.secret_keys
    with pytest.raises(ConfigError, match="CONSENTLOG_SECRET_KEY"):
        settings.check_secret_keys()


@pytest.mark.parametrize(
    ("variable", "raw", "named"),
    [
        ("CONSENTLOG_SECURE_COOKIES", "sometimes", "CONSENTLOG_SECURE_COOKIES"),
        ("CONSENTLOG_QUEUE_SIZE", "1e5", "CONSENTLOG_QUEUE_SIZE"),
        ("CONSENTLOG_PAGE_FILTER", "mymodule.keep", "keyword option"),
        ("CONSENTLOG_TEXTS", "/nonexistent/texts.json", "CONSENTLOG_TEXTS"),
    ],
)
def test_values_are_cast_by_the_field_type(variable: str, raw: str, named: str) -> None:
    """A variable's text is checked against its field's type: a Literal's values, an int."""
    with pytest.raises(ConfigError, match=named):
        Settings.from_env({"CONSENTLOG_SECRET_KEY": KEY, variable: raw})


def test_optional_text_is_none_when_empty() -> None:
    """An empty variable for an optional option means 'not set'."""
    settings = Settings.from_env({"CONSENTLOG_SECRET_KEY": KEY, "CONSENTLOG_COOKIE_DOMAIN": ""})
    assert settings.cookie_domain is None
    dashboard = Settings.from_env(
        {"CONSENTLOG_SECRET_KEY": KEY, "CONSENTLOG_DASHBOARD_PASSWORD": "pw"}
    )
    assert "pw" == dashboard.dashboard_password


def test_a_string_is_not_a_list_of_keys() -> None:
    """One string as secret_keys would make every character a key: refused."""
    with pytest.raises(ConfigError, match="list of keys"):
        Settings(secret_keys="long-secret")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="empty key"):
        Settings(secret_keys=("k", "  "))


def test_secrets_stay_out_of_the_repr() -> None:
    """Keys, the dashboard password and token never appear in a printed Settings."""
    settings = Settings(secret_keys=(KEY,), dashboard_password="pw-1", dashboard_token="t-1")
    assert not {KEY, "pw-1", "t-1"} & set(repr(settings).replace("'", " ").split())
    assert KEY not in repr(settings)


def test_only_the_named_options_are_read() -> None:
    """``only=`` reads just those variables: a bad one elsewhere does not matter."""
    env = {"CONSENTLOG_DATABASE": "site", "CONSENTLOG_SECURE_COOKIES": "sometimes"}
    settings = Settings.from_env(env, require_secret_keys=False, only=("database",))
    assert "site" == settings.database
    assert "auto" == settings.secure_cookies


@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("honor_gpc", "maybe", "honor_gpc='maybe': use True or False"),
        ("secure_cookies", "sometimes", "use one of 'auto', 'always', 'never'"),
        ("policy_revision", -1, "policy_revision=-1: must be >= 0"),
        ("policy_revision", True, "use a whole number"),
        ("queue_size", 0, "queue_size=0: must be >= 1"),
        ("ipv4_prefix", 32, "between 0 and 24"),
        ("ipv6_prefix", 128, "between 0 and 64"),
        ("exclude_paths", "/healthz", "use a list of texts"),
        ("clickhouse_url", "postgres://u:secret@db/x", "scheme 'postgres'"),
        ("clickhouse_url", "http:///nohost", "use chdb:///abs/path"),
        ("privacy_url", "javascript:alert(1)", "use a path on this site"),
        ("privacy_url", "//evil.example/privacy", "use a path on this site"),
        ("privacy_url", "/privacy\nSet-Cookie: x", "use a path on this site"),
        ("prefix", "//consent", "must start with one '/'"),
        ("host_aliases", ("www.example.org",), "is not alias=canonical"),
        ("host_aliases", ("www.example.org=",), "is not alias=canonical"),
        ("host_aliases", ("a b=example.org",), "is not alias=canonical"),
        ("host_aliases", ("example.org=EXAMPLE.org",), "names one host twice"),
        ("host_aliases", ("a.example=b.example", "b.example=c.example"), "is itself an alias"),
    ],
)
def test_unsafe_options_are_refused_alike(option: str, value: object, named: str) -> None:
    """A keyword and its variable are held to the same rules, and the error says what is valid."""
    with pytest.raises(ConfigError, match=re.escape(named)):
        Settings(secret_keys=(KEY,), **{option: value})  # type: ignore[arg-type]


def test_a_store_url_error_never_shows_its_password() -> None:
    """The refusal of a store URL names its scheme, never its credentials."""
    with pytest.raises(ConfigError) as refused:
        Settings(clickhouse_url="ftp://admin:hunter2@db.example/x")
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    "url", ["", "/privacy", "privacy.html", "/legal/privacy#cookies", "https://example.org/privacy"]
)
def test_safe_privacy_urls_are_kept(url: str) -> None:
    """A path on the site or an http(s) URL is a valid privacy link; empty means none."""
    assert url == Settings(privacy_url=url).privacy_url


@pytest.mark.parametrize("key", ["…", "short-key-9", "x" * 31, "é" * 15])
def test_short_keys_are_refused_without_being_shown(key: str) -> None:
    """A key under 32 bytes (the README's placeholder too) is refused; the error names its
    length and how to make one, never the key."""
    for attempt in (
        lambda: Settings(secret_keys=(key,)),
        lambda: Settings.from_env({"CONSENTLOG_SECRET_KEY": key}),
    ):
        with pytest.raises(ConfigError, match="too short: use at least 32 random bytes") as bad:
            attempt()
        assert key not in str(bad.value).replace("secrets", "")


def test_host_aliases_from_a_variable() -> None:
    """``CONSENTLOG_HOST_ALIASES``: comma-separated ``alias=canonical`` pairs, any case."""
    settings = Settings.from_env(
        {"CONSENTLOG_SECRET_KEY": KEY,
         "CONSENTLOG_HOST_ALIASES": "WWW.example.org=example.org, example.net:8443=example.org"}
    )  # fmt: skip
    assert settings.host_alias_map == {
        "www.example.org": "example.org",
        "example.net:8443": "example.org",
    }
