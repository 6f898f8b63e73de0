"""Ready-to-send representations: body, gzip body, validator (ETag, Last-Modified), cached.

Everything the API answers with is a published file or is built from one, and published files
never change once their run folder is renamed into place. So each representation is built once,
the first time it is asked for, and kept in a small LRU cache keyed by the file's identity
(path, inode, size, modification time): a request after that is a dictionary lookup, and a new
run is a new key. The ETag is a hash of the body, so it is the same on every replica that
serves the same file; the gzip variant gets its own tag (``"<hash>.gz"``), as a different
representation must.
"""

from __future__ import annotations

import gzip
import hashlib
import os
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

MIN_GZIP_BYTES = 1024
COMPRESSIBLE = ("text/", "application/json", "application/problem+json", "image/svg+xml")
DEFAULT_CACHE_BYTES = 64 * 2**20
MAX_CACHED_BODY = 8 * 2**20


@dataclass(frozen=True)
class Entity:
    """One representation of a resource, with its gzip variant when that is worth sending."""

    body: bytes
    content_type: str
    etag: str  # quoted strong tag of the identity body
    last_modified: datetime
    gzipped: bytes | None = None

    @classmethod
    def build(cls, body: bytes, content_type: str, last_modified: datetime) -> Entity:
        digest = hashlib.blake2b(body, digest_size=16).hexdigest()
        packed = None
        if len(body) >= MIN_GZIP_BYTES and content_type.startswith(COMPRESSIBLE):
            candidate = gzip.compress(body, compresslevel=6, mtime=0)
            packed = candidate if len(candidate) < len(body) else None
        return cls(body, content_type, f'"{digest}"', last_modified.replace(microsecond=0), packed)

    @property
    def gzip_etag(self) -> str:
        return self.etag[:-1] + '.gz"'

    @property
    def size(self) -> int:
        return len(self.body) + len(self.gzipped or b"")

    def matches(self, if_none_match: str) -> bool:
        """True when an ``If-None-Match`` value names this entity (either encoding; weak compare)."""
        if if_none_match.strip() == "*":
            return True
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return self.etag in tags or self.gzip_etag in tags


def file_identity(path: Path) -> tuple[Hashable, ...] | None:
    """What changes when a file is replaced or rewritten; None when it does not exist."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (str(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)


def modified_at(path: Path) -> datetime:
    return datetime.fromtimestamp(os.stat(path).st_mtime, timezone.utc)


class EntityCache:
    """An LRU of entities with a byte budget; bodies over ``MAX_CACHED_BODY`` are not kept."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, Entity] = OrderedDict()
        self._bytes = 0

    def get(self, key: Hashable, build: Callable[[], Entity]) -> Entity:
        """The entity under ``key``, built with ``build()`` on a miss."""
        found = self._items.get(key)
        if found is not None:
            self._items.move_to_end(key)
            return found
        entity = build()
        if entity.size <= MAX_CACHED_BODY:
            self._items[key] = entity
            self._bytes += entity.size
            while self._bytes > self.max_bytes and self._items:
                _, dropped = self._items.popitem(last=False)
                self._bytes -= dropped.size
        return entity

    def __len__(self) -> int:
        return len(self._items)
