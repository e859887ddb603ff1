"""The Jinja environment of consentlog's own markup (``templates/``): the banner, the
settings page, an embed's placeholder, the Consent Mode script."""

from __future__ import annotations

import re

import jinja2
import jinja2.ext

# The template is laid out on lines for reading, but the banner goes into every page, where
# white space between its inline elements would show: a line break (with the indentation
# around it) is dropped next to a tag or a template tag, and is one space anywhere else.
_BREAK_AT_TAG = re.compile(r"(?<=[>}])[ \t]*\n\s*|[ \t]*\n\s*(?=[<{])")
_BREAK = re.compile(r"[ \t]*\n\s*")


class _Layout(jinja2.ext.Extension):
    """Takes the layout line breaks out of a template before it is compiled."""

    def preprocess(self, source: str, name: str | None, filename: str | None = None) -> str:
        return _BREAK.sub(" ", _BREAK_AT_TAG.sub("", source))


TEMPLATES = jinja2.Environment(
    loader=jinja2.PackageLoader("consentlog.asgi", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    extensions=[_Layout],
)
