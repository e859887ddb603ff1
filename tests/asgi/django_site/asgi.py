"""The Django site as a server runs it: Django's ASGI handler inside ConsentMiddleware,
its options from ``CONSENTLOG_*`` variables (``uvicorn tests.asgi.django_site.asgi:app``)."""

from __future__ import annotations

import os

from django.core.asgi import get_asgi_application

from consentlog.asgi.middleware import ConsentMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.asgi.django_site.settings")
app = ConsentMiddleware(get_asgi_application())
