"""The demo: the demo site wrapped in ``ConsentMiddleware``, configured from the environment,
with the analyst dashboard beside it at ``/analytics``.

Without ``CONSENTLOG_SECRET_KEY`` the demo makes a key once and keeps it beside its
embedded store, so decisions survive restarts; the dashboard password likewise, unless
``CONSENTLOG_DASHBOARD_PASSWORD`` is set.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.dashboard import create_dashboard
from consentlog.dashboard.mount import SiteWithDashboard
from consentlog.demo.site import create_site
from consentlog.settings import Settings
from consentlog.store import embedded_path

DEFAULT_STORE = "chdb:.consentlog"


DASHBOARD_PATH = "/analytics"


def _kept_secret(store_url: str, name: str, length: int = 32) -> str:
    """A random secret made once and kept in ``<store>/<name>`` (or the working
    directory for a server store), so it survives restarts."""
    directory = embedded_path(store_url) or Path.cwd()
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / name
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(length), encoding="utf-8")
        key_file.chmod(0o600)
    return key_file.read_text(encoding="utf-8").strip()


def demo_secret(store_url: str) -> str:
    """The demo's secret key, kept in ``<store>/consentlog-secret-key``."""
    return _kept_secret(store_url, "consentlog-secret-key")


def dashboard_password(store_url: str) -> str:
    """The demo dashboard's password: ``CONSENTLOG_DASHBOARD_PASSWORD``, else one made
    once and kept in ``<store>/consentlog-dashboard-password``."""
    return os.environ.get("CONSENTLOG_DASHBOARD_PASSWORD") or _kept_secret(
        store_url, "consentlog-dashboard-password", 12
    )


def create_demo_app(**options: Any) -> SiteWithDashboard:
    """The demo site with consentlog mounted, and the dashboard beside it at
    ``/analytics`` (not logged, no banner); ``options`` override the environment."""
    url = options.pop("clickhouse_url", None) or os.environ.get(
        "CONSENTLOG_CLICKHOUSE_URL", DEFAULT_STORE
    )
    if "secret_keys" not in options and not os.environ.get("CONSENTLOG_SECRET_KEY"):
        options["secret_keys"] = (demo_secret(url),)
    settings = Settings.from_env(clickhouse_url=url, **options)
    site = ConsentMiddleware(create_site(), settings=settings)
    dashboard = create_dashboard(
        site.store,
        database=settings.database,
        password=dashboard_password(url),
        token=os.environ.get("CONSENTLOG_DASHBOARD_TOKEN") or None,
        secret_keys=settings.secret_keys,
        prefix=DASHBOARD_PATH,
    )
    return SiteWithDashboard(site, dashboard, path=DASHBOARD_PATH)
