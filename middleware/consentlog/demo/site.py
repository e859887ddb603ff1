"""The consentlog demo site: "Larkspur", a fictional self-hosted status-page product.

The content is data — ``content/site.toml`` lists every page, with one HTML fragment per
page beside it — the layout is Jinja2 templates in ``templates/``, the stylesheet
``static/site.css``; this module holds the routes. The site knows nothing about
consentlog: wrap :func:`create_site` with the middleware to see the banner, the
consent-gated script on ``/pricing`` and cookie enforcement.
"""

from __future__ import annotations

import hashlib
import tomllib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from importlib import resources
from typing import Any, Final

import jinja2
from markupsafe import Markup
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, RedirectResponse, Response
from starlette.routing import Route

__all__ = ["create_site", "load_site"]

THIRTY_DAYS: Final = 3600 * 24 * 30  # lifetime of the pages' own cookies

_FILES = resources.files("consentlog.demo")
_TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("consentlog.demo", "templates"),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
CSS: Final = _FILES.joinpath("static", "site.css").read_bytes()
_TEMPLATES.globals["css_version"] = hashlib.sha256(CSS).hexdigest()[:12]  # cached until changed


@dataclass(frozen=True, slots=True)
class Page:
    """A page of the site served at ``path``, its body the content file ``content``."""

    path: str
    title: str
    content: str
    nav: str = ""  # the main-menu entry to mark as current
    description: str = ""  # '' = the site's
    feedback: bool = False  # leave room for "was this page useful?"
    cookies: dict[str, str] = field(default_factory=dict)  # set by the page itself


@dataclass(frozen=True, slots=True)
class Doc:
    """A documentation page, at ``/docs/<slug>``."""

    slug: str
    title: str
    summary: str
    content: str
    feedback: bool = False


@dataclass(frozen=True, slots=True)
class Post:
    """A blog post, at ``/blog/<slug>``."""

    slug: str
    title: str
    published: date
    summary: str
    content: str
    feedback: bool = False


@dataclass(frozen=True, slots=True)
class Site:
    """Everything ``content/site.toml`` says: the site's name and menu, and its pages."""

    name: str
    description: str
    nav: tuple[dict[str, str], ...]
    pages: tuple[Page, ...]
    docs: tuple[Doc, ...]
    posts: tuple[Post, ...]

    def body(self, content: str) -> Markup:
        """The content file ``content``, as the markup it is."""
        text = _FILES.joinpath("content", content).read_text(encoding="utf-8")
        return Markup(text)  # noqa: S704 - the site's own content files, written as HTML


def load_site() -> Site:
    """The site as ``content/site.toml`` describes it."""
    data: dict[str, Any] = tomllib.loads(
        _FILES.joinpath("content", "site.toml").read_text(encoding="utf-8")
    )
    return Site(
        name=data["name"],
        description=data["description"],
        nav=tuple(data["nav"]),
        pages=tuple(Page(**p) for p in data["page"]),
        docs=tuple(Doc(**d) for d in data["doc"]),
        posts=tuple(Post(**p) for p in data["post"]),
    )


def _render(
    site: Site,
    template: str,
    title: str,
    *,
    active: str = "",
    description: str = "",
    feedback: bool = False,
    **context: object,
) -> str:
    return _TEMPLATES.get_template(template).render(
        site=site,
        title=title,
        active=active,
        description=description,
        feedback=feedback,
        **context,
    )


def _documents(site: Site) -> dict[str, str]:
    """Every page of the site by path, rendered once: the content does not change."""
    out = {
        p.path: _render(
            site,
            "page.html",
            p.title,
            body=site.body(p.content),
            active=p.nav,
            description=p.description,
            feedback=p.feedback,
        )
        for p in site.pages
    }
    out["/docs"] = _render(site, "docs.html", "Documentation", docs=site.docs, active="/docs")
    for i, doc in enumerate(site.docs):
        out[f"/docs/{doc.slug}"] = _render(
            site,
            "doc.html",
            doc.title,
            doc=doc,
            docs=site.docs,
            previous=site.docs[i - 1] if i > 0 else None,
            next=site.docs[i + 1] if i + 1 < len(site.docs) else None,
            body=site.body(doc.content),
            active="/docs",
            description=doc.summary,
            feedback=doc.feedback,
        )
    newest_first = sorted(site.posts, key=lambda p: p.published, reverse=True)
    out["/blog"] = _render(site, "blog.html", "Blog", posts=newest_first, active="/blog")
    for post in site.posts:
        out[f"/blog/{post.slug}"] = _render(
            site,
            "post.html",
            post.title,
            post=post,
            body=site.body(post.content),
            active="/blog",
            description=post.summary,
            feedback=post.feedback,
        )
    return out


def _serve(html: str, cookies: dict[str, str]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        response = HTMLResponse(html)
        for name, value in cookies.items():
            response.set_cookie(name, value, max_age=THIRTY_DAYS)
        return response

    return endpoint


async def _trial(request: Request) -> Response:
    """POST /trial, the Team plan's form: a trial is started (the demo keeps nothing of
    it) and the visitor sent on to the getting-started guide — a server goal."""
    return RedirectResponse("/docs/getting-started", status_code=303)


async def _healthz(request: Request) -> Response:
    return PlainTextResponse("ok")


async def _stylesheet(request: Request) -> Response:
    return Response(
        CSS,
        media_type="text/css; charset=utf-8",
        headers={"Cache-Control": "public, max-age=31536000, immutable"},
    )


def create_site() -> Starlette:
    """The demo site itself, without consentlog: a small product website."""
    site = load_site()
    cookies = {p.path: p.cookies for p in site.pages}

    async def not_found(request: Request, exc: Exception) -> Response:
        html = _render(site, "not_found.html", "Page not found", path=request.url.path)
        return HTMLResponse(html, status_code=404)

    routes = [
        *(
            Route(path, _serve(html, cookies.get(path, {})))
            for path, html in _documents(site).items()
        ),
        Route("/trial", _trial, methods=["POST"]),
        Route("/healthz", _healthz),
        Route("/static/site.css", _stylesheet),
    ]
    return Starlette(routes=routes, exception_handlers={404: not_found})
