"""Serving the HTTP interface with uvicorn, from a background thread of the store's owner
(an ordinary process that opened the store first, or ``consentlog serve``).

The socket is bound before uvicorn starts, so the port is known — and free ports are
found by the operating system — before anyone is told where to connect.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from typing import Any

import uvicorn

from consentlog.exceptions import StoreError


def parse_listen(listen: str, default_host: str = "127.0.0.1") -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``[v6]:PORT`` or ``''`` (loopback, a free port)."""
    if not listen:
        return default_host, 0
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise StoreError(f"listen address {listen!r} is not HOST:PORT (e.g. 127.0.0.1:8123)")
    return host.strip("[]") or default_host, int(port)


def is_loopback(host: str) -> bool:
    """Does ``host`` only accept connections from this machine? (An address, or
    ``localhost``; a name that merely starts with ``127.`` is not one.)"""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port`` (port 0: any free port)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on connections of a socket that
    # says it is TCP; without it every answer on a kept-alive connection waits ~40 ms
    # (Nagle's algorithm against the client's delayed ACK)
    listener = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
        listener.listen(1024)
    except OSError as exc:
        listener.close()
        raise StoreError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    listener.set_inheritable(False)
    return listener


MAX_CONNECTIONS = 1024  # beyond, uvicorn answers 503 at once


# uvicorn warns of every malformed request it is sent; anyone on the machine can send
# those to an owner, and the owner's stderr is the site's log: errors only.
logging.getLogger("uvicorn.error").setLevel(logging.ERROR)


def _config(app: Any, **options: Any) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        lifespan="off",
        access_log=False,
        log_config=None,
        log_level=logging.WARNING,
        timeout_graceful_shutdown=10,
        ws="none",  # HTTP only: no WebSocket upgrade to answer (or warn about)
        limit_concurrency=MAX_CONNECTIONS,
        timeout_keep_alive=5,
        **options,
    )


class BackgroundServer:
    """uvicorn serving ``app`` on ``listener`` from a daemon thread of this process."""

    def __init__(
        self, app: Any, listener: socket.socket, *, ssl_certfile: str = "", ssl_keyfile: str = ""
    ) -> None:
        self.listener = listener
        self.host, self.port = listener.getsockname()[:2]
        self.scheme = "https" if ssl_certfile else "http"
        tls: dict[str, Any] = {}
        if ssl_certfile:
            tls = {"ssl_certfile": ssl_certfile, "ssl_keyfile": ssl_keyfile or None}
        self._server = uvicorn.Server(_config(app, **tls))
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [listener]},
            name="consentlog-serve",
            daemon=True,
        )

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; return once uvicorn accepts connections."""
        self._thread.start()
        waited = 0.0
        while not self._server.started and self._thread.is_alive() and waited < timeout:
            threading.Event().wait(0.01)
            waited += 0.01
        if not self._server.started:
            raise StoreError(f"the store could not be served on {self.host}:{self.port}")

    def stop(self, timeout: float = 15.0) -> None:
        """Finish the requests in flight, then stop."""
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout)
        self.listener.close()
