"""Settings of the minimal Django site: no database, no apps, no middleware."""

SECRET_KEY = "django-test-only"
DEBUG = False
ALLOWED_HOSTS = ["testserver"]
ROOT_URLCONF = "tests.asgi.django_site.urls"
INSTALLED_APPS: list[str] = []
MIDDLEWARE: list[str] = []
DATABASES: dict[str, dict[str, str]] = {}
TEMPLATES: list[dict[str, object]] = []
USE_TZ = True
