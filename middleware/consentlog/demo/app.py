"""The demo: the demo site wrapped in ``ConsentMiddleware``, configured from the environment.

Without ``CONSENTLOG_SECRET_KEY`` the demo makes a key once and keeps it beside its
embedded store, so decisions survive restarts.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from consentlog.demo.site import create_site
from consentlog.middleware import ConsentMiddleware
from consentlog.settings import Settings
from consentlog.store import embedded_path

DEFAULT_STORE = "chdb:.consentlog"


def demo_secret(store_url: str) -> str:
    """The demo's secret key, kept in ``<store>/consentlog-secret-key`` (or the working
    directory for a server store)."""
    directory = embedded_path(store_url) or Path.cwd()
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / "consentlog-secret-key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(32), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip()


def create_demo_app(**options: Any) -> ConsentMiddleware:
    """The demo site with consentlog mounted; ``options`` override the environment."""
    url = options.pop("clickhouse_url", None) or os.environ.get(
        "CONSENTLOG_CLICKHOUSE_URL", DEFAULT_STORE
    )
    if "secret_keys" not in options and not os.environ.get("CONSENTLOG_SECRET_KEY"):
        options["secret_keys"] = (demo_secret(url),)
    settings = Settings.from_env(clickhouse_url=url, **options)
    return ConsentMiddleware(create_site(), settings=settings)
