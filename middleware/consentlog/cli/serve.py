"""``consentlog serve``: own an embedded store and serve it over the ClickHouse HTTP
interface — a sidecar or systemd unit the site's workers and BI tools connect to."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import threading
from typing import Any

from consentlog.cli.common import settings_of
from consentlog.exceptions import ConfigError, StoreError
from consentlog.store import ownership, store_for
from consentlog.store.embedded import EmbeddedStore
from consentlog.store.schema import migrate
from consentlog.store.serving.server import is_loopback, parse_listen
from consentlog.store.serving.users import ANALYST, CREDENTIALS_FILE, WRITER

DEFAULT_LISTEN = "127.0.0.1:8123"  # ClickHouse's own HTTP port


def _check_exposure(args: argparse.Namespace, listen: str, writer: str, analyst: str) -> None:
    """Beyond loopback: explicit passwords, and TLS or a reverse proxy that terminates it."""
    host, _ = parse_listen(listen)
    if is_loopback(host):
        return
    if not (writer and analyst):
        raise ConfigError(
            f"serving on {host} (not loopback) needs explicit passwords: set "
            "CONSENTLOG_SERVE_PASSWORD and CONSENTLOG_SERVE_ANALYST_PASSWORD"
        )
    if not args.tls_cert and not args.behind_proxy:
        raise ConfigError(
            f"serving on {host} (not loopback) needs TLS: pass --tls-cert and --tls-key, or "
            "--behind-proxy when a reverse proxy terminates TLS (docs/operations.md)"
        )


def cmd_serve(args: argparse.Namespace) -> int:
    """Serve the embedded store until SIGINT or SIGTERM."""
    settings = settings_of(args)
    if not settings.clickhouse_url.startswith("chdb:"):
        raise ConfigError(
            "consentlog serve serves an embedded store (chdb:...); a ClickHouse server "
            "serves itself"
        )
    listen = args.listen or settings.serve_listen or DEFAULT_LISTEN
    _check_exposure(args, listen, settings.serve_password, settings.serve_analyst_password)
    if bool(args.tls_cert) != bool(args.tls_key):
        raise ConfigError("--tls-cert and --tls-key go together")
    parse_listen(listen)
    settings = dataclasses.replace(settings, serve_listen=listen)
    stopping = threading.Event()

    def stop(signum: int, frame: Any) -> None:
        stopping.set()

    # before the store is served: a SIGTERM from then on stops it cleanly
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    store = store_for(settings)
    assert isinstance(store, EmbeddedStore)
    store.serving = dataclasses.replace(
        store.serving, tls_certfile=args.tls_cert or "", tls_keyfile=args.tls_key or ""
    )
    migrate(store, settings.database, ttl_months=settings.retention_months)
    address = store.address
    if store.role != "owner" or address is None:
        owner = ownership.read_owner(store.path) if store.path else None
        where = (
            f"pid {owner.pid}, serving on {owner.host}:{owner.port}" if owner else "another process"
        )
        store.close()
        raise StoreError(
            f"the store {store.path} is owned by {where}: stop it first, or start "
            "`consentlog serve` before the site so that the site's workers go through it"
        )
    _announce(store, address)
    try:
        stopping.wait()
    finally:
        store.close()
    print("consentlog serve: stopped", flush=True)
    return 0


def _announce(store: EmbeddedStore, address: tuple[str, int]) -> None:
    host, port = address
    scheme = "https" if store.serving.tls_certfile else "http"
    shown = f"[{host}]" if ":" in host else host
    print(
        f"serving {store.description} over the ClickHouse HTTP interface on "
        f"{scheme}://{shown}:{port} (users: {WRITER} read-write, {ANALYST} read-only)",
        flush=True,
    )
    if store.passwords_generated and store.users is not None:
        print(
            f"generated passwords, shown once (kept in {store.path}/{CREDENTIALS_FILE}, mode "
            f"0600): {WRITER}={store.users.by_name[WRITER].password} "
            f"{ANALYST}={store.users.by_name[ANALYST].password}",
            flush=True,
        )
