"""A minimal Django project for the ASGI framework test (settings, urls, views)."""
