"""The consent decision: pure, no I/O.

What a request proves (``visit``), the signed consent cookie (``decision``), the visitor
and session ids bound to it (``identifiers``), Set-Cookie writing and filtering
(``cookies``), page-view tokens (``pageviews``), reading headers (``http``) and the bounded
memo for what visitors send (``cache``). Nothing here touches the network, the disk or
ClickHouse.
"""
