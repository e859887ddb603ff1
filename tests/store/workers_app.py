"""A site for many-worker runs: ``uvicorn tests.store.workers_app:app --workers 3`` or
``gunicorn -k uvicorn.workers.UvicornWorker -w 3 tests.store.workers_app:app``.

A small Starlette site with ``ConsentMiddleware``, every option from ``CONSENTLOG_*``
variables (store, secret key, flush interval …). Each page answers with the process id of
the worker that served it (``X-Worker-Pid``), so a test knows what each worker queued.
Importing this module opens nothing: the store, the writer thread and the owner's server
start in the worker that serves the first page (``gunicorn --preload`` imports it in the
master, which then forks).
"""

from __future__ import annotations

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Route

from consentlog.asgi.middleware import ConsentMiddleware

PID_HEADER = "x-worker-pid"


async def page(request: Request) -> Response:
    """An HTML page (recorded as a page request), naming the process that served it."""
    return HTMLResponse(
        f"<!doctype html><html><head><title>p</title></head><body><h1>{request.url.path}</h1>"
        "</body></html>",
        headers={PID_HEADER: str(os.getpid())},  # at request time: workers fork after import
    )


async def health(request: Request) -> Response:
    """Not a page request (excluded path): answers once the worker serves."""
    return PlainTextResponse("ok", headers={PID_HEADER: str(os.getpid())})


site = Starlette(routes=[Route("/healthz", health), Route("/{path:path}", page)])
app = ConsentMiddleware(site)
