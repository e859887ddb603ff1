"""Every error consentlog raises on purpose, in one hierarchy.

``ConsentlogError`` is the root, so a host application can catch everything consentlog
means to say with one ``except``. Each message names the problem and, where there is one,
the fix, in one line.
"""

from __future__ import annotations


class ConsentlogError(Exception):
    """Something consentlog refuses or cannot do; the message says what, in one line."""


class ConfigError(ConsentlogError, ValueError):
    """An option has a value consentlog cannot use; the message names the option and the fix."""


class BadRequest(ConsentlogError):
    """Input a visitor or an analyst sent that consentlog refuses, answered with ``status``
    (4xx) and ``message``, which names the problem."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class StoreError(ConsentlogError, RuntimeError):
    """The store cannot be opened or used; the message says why in one line."""


class StoreLockedError(StoreError):
    """The embedded store is held by another process."""


class StoreUnavailable(StoreError):
    """The store did not answer a query (a report is answered 503, never 500)."""


class CorruptSpoolFile(ConsentlogError, ValueError):
    """A spool file that cannot be read back whole."""


def first_line(exc: BaseException) -> str:
    """The first line of an error's message (or its type), short enough for one log or
    error line: what consentlog shows of an exception it did not raise itself."""
    text = str(exc).strip()
    return (text.splitlines()[0] if text else type(exc).__name__)[:300]
