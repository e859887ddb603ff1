"""The demo: the demo site wrapped in ``ConsentMiddleware``, configured from the environment,
with the analyst dashboard beside it at ``/analytics``.

Without a secret key (``CONSENTLOG_SECRET_KEYS`` / ``CONSENTLOG_SECRET_KEY``) the demo makes
one once and keeps it beside its embedded store, so decisions survive restarts; the
dashboard password likewise, unless ``CONSENTLOG_DASHBOARD_PASSWORD`` is set.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
from pathlib import Path
from typing import Any

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.dashboard import create_dashboard
from consentlog.dashboard.mount import SiteWithDashboard
from consentlog.dashboard.users import UserStore
from consentlog.demo.site import create_site
from consentlog.demo.visitors import DEMO_COUNTRY_HEADER
from consentlog.settings import Settings
from consentlog.store import embedded_path

DASHBOARD_PATH = "/analytics"
DEMO_GOALS = ("trial=POST /trial 303",)
DEMO_FUNNELS = ("trial=/ > /pricing > goal:trial", "evaluate=/docs/** > /pricing > goal:download")


def _kept_secret(store_url: str, name: str, length: int = 32) -> str:
    """A random secret made once and kept in ``<store>/<name>`` (or the working
    directory for a server store), so it survives restarts."""
    directory = embedded_path(store_url) or Path.cwd()
    directory.mkdir(parents=True, exist_ok=True)
    key_file = directory / name
    if not key_file.exists():
        # created 0600 in one step: never readable by others, not even for a moment
        with contextlib.suppress(FileExistsError):  # another worker made it first
            descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
                handle.write(secrets.token_urlsafe(length))
    return key_file.read_text(encoding="utf-8").strip()


def demo_secret(store_url: str) -> str:
    """The demo's secret key, kept in ``<store>/consentlog-secret-key``."""
    return _kept_secret(store_url, "consentlog-secret-key")


def dashboard_password(settings: Settings) -> str:
    """The demo dashboard's password: ``dashboard_password`` when set, else one made once
    and kept in ``<store>/consentlog-dashboard-password``."""
    return settings.dashboard_password or _kept_secret(
        settings.clickhouse_url, "consentlog-dashboard-password", 12
    )


def demo_settings(**options: Any) -> Settings:
    """The demo's settings: the environment, ``options`` over it, and a kept secret key
    when neither gives one; the country header the simulated visitors send, unless
    either names one."""
    settings = Settings.from_env(require_secret_keys=False, **options)
    if not settings.country_header:  # the countries of the simulated visitors
        settings = dataclasses.replace(settings, country_header=DEMO_COUNTRY_HEADER)
    if not settings.goals:  # the Team plan's trial form is a server goal
        settings = dataclasses.replace(settings, goals=DEMO_GOALS)
    if not settings.funnels:
        settings = dataclasses.replace(settings, funnels=DEMO_FUNNELS)
    if not settings.secret_keys:
        settings = dataclasses.replace(
            settings, secret_keys=(demo_secret(settings.clickhouse_url),)
        )
    return settings


def create_demo_app(settings: Settings | None = None, **options: Any) -> SiteWithDashboard:
    """The demo site with consentlog mounted, and the dashboard beside it at
    ``/analytics`` (not logged, no banner); ``options`` override the environment."""
    settings = settings or demo_settings(**options)
    site = ConsentMiddleware(create_site(), settings=settings)
    dashboard = create_dashboard(
        site.store,
        database=settings.database,
        password=dashboard_password(settings),
        token=settings.dashboard_token or None,
        # named users when a users file is set; else the single (kept) password
        users=UserStore(settings.users_file) if settings.users_file else None,
        secret_keys=settings.secret_keys,
        prefix=DASHBOARD_PATH,
        trusted_proxy_hops=settings.trusted_proxy_hops,
        trust_forwarded_host=settings.trust_forwarded_host,
        funnels=settings.funnel_rules,
        site_settings=settings,
    )
    return SiteWithDashboard(site, dashboard, path=DASHBOARD_PATH)
