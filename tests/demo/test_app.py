"""The demo app's configuration: keys and the dashboard password come from Settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from consentlog.consent.decision import ConsentCodec
from consentlog.demo.app import create_demo_app, demo_settings

OLD = "old-key-of-this-site-long-enough-0123456"
NEW = "new-key-of-this-site-long-enough-0123456"


@pytest.mark.parametrize("variable", ["CONSENTLOG_SECRET_KEYS", "CONSENTLOG_SECRET_KEY"])
def test_demo_signs_with_the_configured_keys(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    """With either key variable set, the demo signs with its newest key, not a made-up one."""
    monkeypatch.setenv(variable, f"{OLD},{NEW}")
    monkeypatch.setenv("CONSENTLOG_CLICKHOUSE_URL", f"chdb:{tmp_path / 'store'}")
    app = create_demo_app(flush_interval=0.05)
    try:
        codec = app.site.core.codec
        cookie = codec.dumps(codec.new_decision(["analytics"], "banner"))
        newest_only = ConsentCodec([NEW], policy_revision=1, max_age=3600)
        assert newest_only.loads(cookie).decision is not None
        assert (OLD, NEW) == app.settings.secret_keys
        assert not (tmp_path / "store" / "consentlog-secret-key").exists()
    finally:
        app.writer.stop()


def test_demo_without_a_key_keeps_one(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without a key the demo makes one, 0600 beside its store, and uses it again."""
    monkeypatch.delenv("CONSENTLOG_SECRET_KEYS", raising=False)
    monkeypatch.delenv("CONSENTLOG_SECRET_KEY", raising=False)
    url = f"chdb:{tmp_path / 'store'}"
    first = demo_settings(clickhouse_url=url)
    key_file = tmp_path / "store" / "consentlog-secret-key"
    assert (key_file.read_text(encoding="utf-8"),) == first.secret_keys
    assert 0o600 == key_file.stat().st_mode & 0o777
    assert first.secret_keys == demo_settings(clickhouse_url=url).secret_keys
