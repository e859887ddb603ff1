"""The one check for names that are spliced into SQL text: databases, tables, clusters.

Values always travel as bound query parameters (``{day:Date}``), and a database or table
name does too wherever ClickHouse accepts ``{db:Identifier}``. A name still has to be part
of the text where a parameter cannot stand — ``ON CLUSTER``, a ``Distributed(…)`` engine,
the statements ``consentlog migrate --dry-run`` prints — and there it must pass here first.
"""

from __future__ import annotations

import re

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_identifier(name: str, what: str = "database name") -> str:
    """``name`` if it is a plain identifier (letters, digits, ``_``; not starting with a
    digit), else ``ValueError`` naming ``what`` it was meant to be."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"{what} {name!r} must be a plain identifier")
    return name
