"""HTTP body compression as ClickHouse clients use it.

Request bodies arrive with ``Content-Encoding`` gzip, deflate, zstd or lz4 (the frame
format clickhouse-connect sends; br too when ``brotli`` is installed) and are inflated
with a bound, so a small compressed body cannot become an unbounded one. Answers are
compressed when the query asks with ``enable_http_compression=1`` and ``Accept-Encoding``
offers one of the same encodings.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

import lz4.frame

try:
    from compression import zstd  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # before Python 3.14
    from backports import zstd  # type: ignore[no-redef,import-not-found,unused-ignore]

try:
    import brotli  # type: ignore[import-not-found,unused-ignore]
except ImportError:
    brotli = None

PREFERENCE = ("zstd", "lz4", "gzip", "deflate", "br")  # best first, when a client offers several


class TooLarge(Exception):
    """The body inflates past the bound."""


class UnknownEncoding(Exception):
    """A ``Content-Encoding`` this server cannot read."""


def _zlib_inflater(wbits: int) -> Callable[[bytes, int], bytes]:
    inflater = zlib.decompressobj(wbits)

    def inflate(data: bytes, room: int) -> bytes:
        out = inflater.decompress(data, room + 1)
        if len(out) > room:  # the bound was reached: more would come
            raise TooLarge
        return out

    return inflate


def inflater(encoding: str) -> Callable[[bytes, int], bytes]:
    """A function inflating successive chunks, given how many bytes may still come out."""
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        return _zlib_inflater(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return _zlib_inflater(zlib.MAX_WBITS)
    if encoding == "zstd":
        zstd_inflater = zstd.ZstdDecompressor()

        def inflate_zstd(data: bytes, room: int) -> bytes:
            out: bytes = zstd_inflater.decompress(data, max_length=room + 1)
            if len(out) > room:
                raise TooLarge
            return out

        return inflate_zstd
    if encoding == "lz4":
        lz4_inflater = lz4.frame.LZ4FrameDecompressor()

        def inflate_lz4(data: bytes, room: int) -> bytes:
            out: bytes = lz4_inflater.decompress(data, max_length=room + 1)
            if len(out) > room:
                raise TooLarge
            return out

        return inflate_lz4
    if encoding == "br" and brotli is not None:
        brotli_inflater = brotli.Decompressor()

        def inflate_br(data: bytes, room: int) -> bytes:
            out: bytes = brotli_inflater.process(data)
            if len(out) > room:
                raise TooLarge
            return out

        return inflate_br
    raise UnknownEncoding(encoding)


def choose(accept_encoding: str) -> str | None:
    """The encoding to answer in, from an ``Accept-Encoding`` header."""
    offered = {part.split(";")[0].strip().lower() for part in accept_encoding.split(",")}
    for encoding in PREFERENCE:
        if encoding in offered and (encoding != "br" or brotli is not None):
            return encoding
    return None


def compressor(encoding: str) -> tuple[Callable[[bytes], bytes], Callable[[], bytes]]:
    """``(compress, finish)`` for a streamed answer in ``encoding``."""
    if encoding in ("gzip", "deflate"):
        deflater = zlib.compressobj(
            6, zlib.DEFLATED, (16 if encoding == "gzip" else 0) + zlib.MAX_WBITS
        )
        return deflater.compress, lambda: deflater.flush()
    if encoding == "zstd":
        zstd_deflater: Any = zstd.ZstdCompressor()
        return zstd_deflater.compress, lambda: zstd_deflater.flush(zstd.ZstdCompressor.FLUSH_FRAME)
    if encoding == "lz4":
        lz4_deflater = lz4.frame.LZ4FrameCompressor()
        started = [False]

        def compress_lz4(data: bytes) -> bytes:
            head: bytes = b""
            if not started[0]:
                started[0] = True
                head = lz4_deflater.begin()
            body: bytes = lz4_deflater.compress(data)
            return head + body

        def finish_lz4() -> bytes:
            head: bytes = b"" if started[0] else lz4_deflater.begin()
            tail: bytes = lz4_deflater.flush()
            return head + tail

        return compress_lz4, finish_lz4
    if encoding == "br" and brotli is not None:
        brotli_deflater = brotli.Compressor()
        return brotli_deflater.process, brotli_deflater.finish
    raise UnknownEncoding(encoding)
