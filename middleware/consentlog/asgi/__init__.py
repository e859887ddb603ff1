"""The ASGI surface: the middleware a site mounts, and the routes under its prefix.

``core`` holds what every request needs (settings, codec, cookies, event sink);
``middleware`` and its per-request ``responder`` handle pages; ``routes``, ``beacon`` and
``selfservice`` answer under ``/_consent``; ``banner`` and ``assets`` are what the page gets.
"""
