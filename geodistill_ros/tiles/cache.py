"""Tile caches: an on-disk cache of encoded tile bytes and an in-memory LRU of decoded tiles.

Disk layout: ``root/ab/cdef...0123.tile`` where ``abcdef...`` is the SHA-256 of ``provider_id`` and the tile's
``z/x/y`` integers, so no part of a path ever comes from URL text.  Each file holds a small header (magic,
payload length, SHA-256 of the payload) so truncated or corrupted files are detected on read and dropped.
Writes go to a temporary file in the same folder and are moved into place (atomic on POSIX).  The total size
is capped; the least recently used files (modification time, refreshed on every hit) are evicted first.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path

import numpy as np

MAGIC = b"GDT1"
_HEADER = struct.Struct("<4sQ32s")  # magic, payload length, sha256(payload)


def tile_cache_key(provider_id: str, z: int, x: int, y: int) -> str:
    """Hex SHA-256 naming one tile of one provider."""
    return hashlib.sha256(f"{provider_id}\n{int(z)}/{int(x)}/{int(y)}".encode()).hexdigest()


class DiskTileCache:
    """Size-capped, LRU-evicting, corruption-checking store of encoded tiles (thread-safe)."""

    def __init__(self, root, max_bytes: int = 2 << 30):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes = int(max_bytes)
        self._lock = threading.Lock()
        self._index: dict[Path, tuple[int, float]] = {}  # path -> (file size, last use)
        self.total_bytes = 0
        self.corrupt_dropped = 0
        self.evicted = 0
        self._scan()

    def _scan(self) -> None:
        for sub in self.root.iterdir() if self.root.is_dir() else []:
            if not (sub.is_dir() and len(sub.name) == 2):
                continue
            for entry in os.scandir(sub):
                if entry.name.endswith(".tile"):
                    st = entry.stat()
                    self._index[Path(entry.path)] = (st.st_size, st.st_mtime)
                    self.total_bytes += st.st_size
                elif ".tmp" in entry.name and time.time() - entry.stat().st_mtime > 3600:
                    os.unlink(entry.path)  # a writer died mid-write long ago

    def path_for(self, provider_id: str, z: int, x: int, y: int) -> Path:
        key = tile_cache_key(provider_id, z, x, y)
        return self.root / key[:2] / f"{key[2:]}.tile"

    def __len__(self) -> int:
        return len(self._index)

    def get(self, provider_id: str, z: int, x: int, y: int) -> bytes | None:
        """The cached bytes, or None (missing, or corrupt: then the file is removed)."""
        path = self.path_for(provider_id, z, x, y)
        try:
            blob = path.read_bytes()
        except OSError:
            return None
        payload = self._unpack(blob)
        if payload is None:
            self.corrupt_dropped += 1
            self._remove(path)
            return None
        now = time.time()
        try:
            os.utime(path, (now, now))
        except OSError:
            pass
        with self._lock:
            if path in self._index:
                self._index[path] = (self._index[path][0], now)
        return payload

    @staticmethod
    def _unpack(blob: bytes) -> bytes | None:
        if len(blob) < _HEADER.size:
            return None
        magic, length, digest = _HEADER.unpack_from(blob)
        payload = blob[_HEADER.size:]
        if magic != MAGIC or length != len(payload) or hashlib.sha256(payload).digest() != digest:
            return None
        return payload

    def put(self, provider_id: str, z: int, x: int, y: int, data: bytes) -> None:
        path = self.path_for(provider_id, z, x, y)
        path.parent.mkdir(parents=True, exist_ok=True)
        blob = _HEADER.pack(MAGIC, len(data), hashlib.sha256(data).digest()) + bytes(data)
        fd, tmp = tempfile.mkstemp(prefix=path.name, suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(blob)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        with self._lock:
            old = self._index.get(path)
            if old is not None:
                self.total_bytes -= old[0]
            self._index[path] = (len(blob), time.time())
            self.total_bytes += len(blob)
            self._evict_locked(keep=path)

    def delete(self, provider_id: str, z: int, x: int, y: int) -> None:
        self._remove(self.path_for(provider_id, z, x, y))

    def _remove(self, path: Path) -> None:
        try:
            path.unlink()
        except OSError:
            pass
        with self._lock:
            old = self._index.pop(path, None)
            if old is not None:
                self.total_bytes -= old[0]

    def _evict_locked(self, keep: Path) -> None:
        if self.total_bytes <= self.max_bytes:
            return
        target = int(self.max_bytes * 0.9)  # evict a little more than needed, so the sort runs rarely
        for path, (size, _) in sorted(self._index.items(), key=lambda kv: kv[1][1]):
            if self.total_bytes <= target:
                break
            if path == keep:
                continue
            try:
                path.unlink()
            except OSError:
                pass
            del self._index[path]
            self.total_bytes -= size
            self.evicted += 1


class MemoryTileCache:
    """LRU of decoded tiles (read-only numpy arrays), keyed by ``(provider_id, z, x, y)``; thread-safe."""

    def __init__(self, max_tiles: int = 512):
        self.max_tiles = int(max_tiles)
        self._data: OrderedDict = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key) -> np.ndarray | None:
        with self._lock:
            tile = self._data.get(key)
            if tile is not None:
                self._data.move_to_end(key)
            return tile

    def __contains__(self, key) -> bool:
        with self._lock:
            return key in self._data

    def put(self, key, tile: np.ndarray) -> None:
        if self.max_tiles <= 0:
            return
        tile.setflags(write=False)
        with self._lock:
            self._data[key] = tile
            self._data.move_to_end(key)
            while len(self._data) > self.max_tiles:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
