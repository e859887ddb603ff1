"""consentlog: cookie consent and traffic logging middleware for any ASGI site.

Mount ``ConsentMiddleware`` around your application; see ``docs/`` for every option.
"""

from consentlog.asgi.middleware import ConsentMiddleware
from consentlog.consent.decision import Decision
from consentlog.exceptions import ConfigError, ConsentlogError
from consentlog.settings import Category, Settings
from consentlog.texts import BannerTexts

__all__ = [
    "BannerTexts",
    "Category",
    "ConfigError",
    "ConsentMiddleware",
    "ConsentlogError",
    "Decision",
    "Settings",
]
__version__ = "0.1.0"
