"""What the writer's log lines may say of a store's error: never the rows it quotes.

ClickHouse's messages often quote the value they refused (``Cannot parse uuid <value>``,
a path, a query string), and a log line must hold no event data. For an error that
carries a ClickHouse code, only the code and its name are kept; other errors (a refused
connection, a timeout) say nothing about rows and keep their first line.
"""

from __future__ import annotations

import re

from consentlog.exceptions import first_line

_CODE = re.compile(r"Code: (\d+)")
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")


def store_error(exc: BaseException) -> str:
    """``exc`` as a log line may show it: ``ClickHouse error 376 (CANNOT_PARSE_UUID)``."""
    text = str(exc)
    code = _CODE.search(text)
    if code is None:
        return first_line(exc)
    name = _NAME.search(text)
    return f"ClickHouse error {code.group(1)}" + (f" ({name.group(1)})" if name else "")
