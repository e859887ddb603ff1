"""The commands that serve HTTP pages: ``demo`` and ``dashboard``, with uvicorn."""

from __future__ import annotations

import argparse
import datetime
import secrets
import socket
import sys
from pathlib import Path
from typing import Any

import uvicorn

from consentlog.cli.common import DASHBOARD_OPTIONS, given_options, settings_of, store_of
from consentlog.dashboard.users import UserStore
from consentlog.exceptions import ConfigError, StoreError
from consentlog.store.schema import LATEST, migrate, schema_version


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` before anything says the server is there; a busy
    or impossible address is one ConfigError line."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        family, kind, proto, _, address = infos[0]
        listener = socket.socket(family, kind, proto)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            listener.bind(address)
        except OSError:
            listener.close()
            raise
    except (OSError, OverflowError) as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc}") from None
    return listener


def _serve(app: Any, listener: socket.socket) -> None:
    config = uvicorn.Config(app, log_level="warning")
    uvicorn.Server(config).run(sockets=[listener])


def cmd_demo(args: argparse.Namespace) -> int:
    """Serve the demo site with consentlog mounted."""
    from consentlog.demo.app import (
        DASHBOARD_PATH,
        create_demo_app,
        dashboard_password,
        demo_settings,
    )

    settings = demo_settings(**given_options(args))
    listener = _listen(args.host, args.port)
    app = create_demo_app(settings)
    store = app.store
    if store.path is not None:
        migrate(store, settings.database, ttl_months=settings.retention_months)
    url = f"http://{args.host}:{args.port}/"
    print(f"consentlog demo: {url}  (store: {store.description})", flush=True)
    password = (
        "from CONSENTLOG_DASHBOARD_PASSWORD"  # the operator's own: not echoed
        if settings.dashboard_password
        else dashboard_password(settings)
    )
    login = f"users: {settings.users_file}" if settings.users_file else f"password: {password}"
    print(f"dashboard: {url.rstrip('/')}{DASHBOARD_PATH}/  {login}", flush=True)
    if args.simulate:  # synthetic visitors over HTTP, once the server answers
        from consentlog.demo.simulate import simulate_in_background
        from consentlog.demo.spread import SPREAD_DAYS, spread

        def spread_visits(since: datetime.datetime) -> str:
            app.site.writer.flush(60)  # every visit written before it is moved
            moved = spread(store, settings.database, since)
            return f"spread {moved} page views over the last {SPREAD_DAYS} days"

        simulate_in_background(
            args.host, args.port, args.simulate, seed=args.seed, after=spread_visits
        )
    _serve(app, listener)
    return 0


def _users(path: str) -> UserStore:
    """The users file at ``path``, which must hold a user (else nobody could log in); a
    file others may read is named on stderr (it holds password hashes and TOTP secrets)."""
    store = UserStore(path)
    store.check_safe()
    if not store.users():
        raise ConfigError(
            f"the users file {path} has no users: add one with"
            " `consentlog users add NAME --role ROLE`, or unset CONSENTLOG_USERS_FILE"
        )
    if store.path.stat().st_mode & 0o077:
        print(
            f"consentlog: warning: others may read the users file {path}: chmod 600 {path}",
            file=sys.stderr,
        )
    return store


def cmd_dashboard(args: argparse.Namespace) -> int:
    """Serve the analyst dashboard on its own."""
    from consentlog.dashboard import create_dashboard

    settings = settings_of(args, DASHBOARD_OPTIONS)
    users = _users(settings.users_file) if settings.users_file else None
    password = settings.dashboard_password or None
    if args.password_file:
        password = Path(args.password_file).read_text(encoding="utf-8").strip() or None
    token = settings.dashboard_token or None
    if users is not None and (password or token):
        print(
            "consentlog: named users from CONSENTLOG_USERS_FILE: the dashboard password and"
            " token are not used",
            file=sys.stderr,
        )
    if users is None and not password and not token:
        print(
            "consentlog: the dashboard needs a password: set CONSENTLOG_DASHBOARD_PASSWORD "
            "(or CONSENTLOG_DASHBOARD_TOKEN), or pass --password-file",
            file=sys.stderr,
        )
        return 2
    store, database = store_of(settings), settings.database
    version = schema_version(store, database)  # read-only: the dashboard never migrates
    if version < LATEST:
        raise StoreError(
            f"database {database} is at schema version {version}, the dashboard needs "
            f"{LATEST}: run `consentlog migrate`"
        )
    app = create_dashboard(
        store,
        database=database,
        password=password,
        token=token,
        users=users,
        # without a configured key, sessions are signed with one made now: they end
        # when the process does
        secret_keys=settings.secret_keys or [secrets.token_urlsafe(32)],
        trusted_proxy_hops=settings.trusted_proxy_hops,
        trust_forwarded_host=settings.trust_forwarded_host,
        funnels=settings.funnel_rules,
        site_settings=settings,
    )
    listener = _listen(args.host, args.port)
    url = f"http://{args.host}:{args.port}/"
    print(f"consentlog dashboard: {url}  (store: {store.description})", flush=True)
    _serve(app, listener)
    return 0
