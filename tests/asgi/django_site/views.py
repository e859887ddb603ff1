"""Views of the minimal Django site: an HTML page (that sets host cookies) and a JSON one."""

from __future__ import annotations

from html import escape

from django.http import HttpRequest, HttpResponse, JsonResponse


def page(request: HttpRequest, slug: str = "") -> HttpResponse:
    """An HTML page; ``?set=1`` makes it set an analytics and a functional cookie."""
    response = HttpResponse(
        "<!doctype html><html><head><title>django</title></head>"
        f"<body><h1>{escape(request.path)}</h1></body></html>"
    )
    if "set" in request.GET:
        response.set_cookie("_ga", "GA1.1.1")
        response.set_cookie("theme", "dark")
    return response


def ping(request: HttpRequest) -> JsonResponse:
    """A JSON endpoint: no banner, no page row."""
    return JsonResponse({"ok": True})
