"""Codecs and counters for streamed backups: bytes flow through in chunks, never whole in memory.

``compressor(codec)`` turns raw chunks into stored chunks; ``decompressing_reader(codec, source)`` reads
stored bytes back as raw bytes with bounded output per read; ``Digest`` counts size and SHA-256 of the
stored bytes, which is what a backup row records and verification recomputes.
"""

import hashlib
import zlib
from collections.abc import Callable, Iterable, Iterator
from typing import Protocol

import zstandard

CODECS = ("zstd", "gzip", "none")
# Small enough that a chunk in flight (and zstd's output for it) costs little RSS, large enough that the
# per-chunk Python overhead stays far below the cost of compressing it.
CHUNK_SIZE = 256 * 1024
ZSTD_LEVEL = 3
# Level 3 would use a 2 MiB window; 1 MiB compressed the benchmark dump to the same size, one MiB less RSS.
ZSTD_WINDOW_LOG = 20
GZIP_LEVEL = 6


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


class Compressor(Protocol):
    def compress(self, data: bytes, /) -> bytes: ...

    def flush(self) -> bytes: ...


class Digest:
    """Size and SHA-256 of every byte passed to ``update``."""

    def __init__(self) -> None:
        self.size = 0
        self._sha256 = hashlib.sha256()

    def update(self, data: bytes) -> None:
        self.size += len(data)
        self._sha256.update(data)

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()


class _Identity:
    def compress(self, data: bytes) -> bytes:
        return data

    def flush(self) -> bytes:
        return b""


def check_codec(codec: str) -> str:
    if codec not in CODECS:
        raise ValueError(f"Unknown codec {codec!r}; choose one of {', '.join(CODECS)}.")
    return codec


def compressor(codec: str) -> Compressor:
    """A fresh streaming compressor for ``codec``; call ``flush()`` once at the very end."""
    check_codec(codec)
    if codec == "zstd":
        # Single-threaded: zstd's worker mode keeps jobs of input and output buffered (+5 MiB peak RSS
        # with 1 MiB jobs) and was no faster on the benchmark (S3 and file system), because pg_dump and
        # the database server already keep the other core busy.
        params = zstandard.ZstdCompressionParameters.from_level(
            ZSTD_LEVEL, window_log=ZSTD_WINDOW_LOG, write_checksum=1
        )
        return zstandard.ZstdCompressor(compression_params=params).compressobj()
    if codec == "gzip":
        # wbits 31 writes a gzip header, so `gunzip` opens the object directly.
        return zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, 31)
    return _Identity()


def suffix(codec: str) -> str:
    """The file name ending that tells a human which tool opens an object."""
    return {"zstd": ".zst", "gzip": ".gz", "none": ""}[check_codec(codec)]


class _GzipReader:
    """Raw bytes of a gzip stream, at most ``size`` per read, so a tiny object cannot inflate memory."""

    def __init__(self, source: Readable) -> None:
        self._source = source
        self._inflater = zlib.decompressobj(31)
        self._pending = b""

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        while True:
            if self._pending:
                data = self._inflater.decompress(self._pending, size)
                self._pending = self._inflater.unconsumed_tail
            else:
                compressed = self._source.read(CHUNK_SIZE)
                if not compressed:
                    data = self._inflater.flush()
                    if not self._inflater.eof:
                        raise zlib.error("the gzip stream ends early (truncated object)")
                    return data
                data = self._inflater.decompress(compressed, size)
                self._pending = self._inflater.unconsumed_tail
            if data:
                return data


def decompressing_reader(codec: str, source: Readable) -> Readable:
    """A reader of the raw bytes behind ``source``'s stored bytes; ``read()`` returns b"" at the end."""
    check_codec(codec)
    if codec == "zstd":
        return zstandard.ZstdDecompressor().stream_reader(
            source, read_size=CHUNK_SIZE, read_across_frames=True
        )
    if codec == "gzip":
        return _GzipReader(source)
    return source


def iter_chunks(reader: Readable, size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """``reader``'s bytes in chunks of at most ``size`` until it is exhausted."""
    while chunk := reader.read(size):
        yield chunk


class DigestingReader:
    """Wraps a reader of stored bytes and counts them, so a download verifies itself as it streams."""

    def __init__(self, source: Readable, progress: Callable[[int], None] | None = None) -> None:
        self._source = source
        self._progress = progress
        self.digest = Digest()

    def read(self, size: int = CHUNK_SIZE) -> bytes:
        data = self._source.read(size)
        self.digest.update(data)
        if self._progress and data:
            self._progress(self.digest.size)
        return data

    def drain(self) -> None:
        """Read (and count) whatever the consumer left unread, e.g. after ``pg_restore --list`` exits."""
        while self.read(CHUNK_SIZE):
            pass


def compress_chunks(codec: str, chunks: Iterable[bytes]) -> Iterator[bytes]:
    """Stored chunks for ``chunks``; the final flush only happens if ``chunks`` ends without an error."""
    packer = compressor(codec)
    for chunk in chunks:
        packed = packer.compress(chunk)
        if packed:
            yield packed
    tail = packer.flush()
    if tail:
        yield tail
