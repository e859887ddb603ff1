"""The consent decision: pure, no I/O.

What a request proves (``visit``), the signed consent cookie (``decision``), Set-Cookie
writing and filtering (``cookies``), page-view tokens (``pageviews``) and reading headers
(``http``). Nothing here touches the network, the disk or ClickHouse.
"""
