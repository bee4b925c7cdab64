"""Disk cache (eviction, corruption, offline) and memory LRU, alone and behind a real HTTP source."""

import os

import numpy as np
import pytest

from geodistill_ros.tiles import TileOfflineMiss, open_tile_source
from geodistill_ros.tiles.cache import DiskTileCache, MemoryTileCache

MPP = 0.2


def test_disk_cache_keeps_its_size_cap_and_evicts_least_recently_used(tmp_path):
    cache = DiskTileCache(tmp_path / "c", max_bytes=5000)
    blob = os.urandom(900)
    for i in range(4):
        cache.put("p", 19, i, 0, blob)
    os.utime(cache.path_for("p", 19, 0, 0), (1, 1))  # make tile 0 old...
    os.utime(cache.path_for("p", 19, 1, 0), (2, 2))
    cache._index = {}
    cache.total_bytes = 0
    cache._scan()  # (as a fresh process would see it)
    assert cache.get("p", 19, 0, 0) == blob  # ...then use it: now tile 1 is the least recently used
    i = 4
    while cache.evicted == 0:
        cache.put("p", 19, i, 0, blob)
        i += 1
    assert cache.get("p", 19, 1, 0) is None and cache.get("p", 19, 0, 0) == blob  # LRU went first
    assert cache.get("p", 19, i - 1, 0) == blob
    for j in range(i, i + 20):
        cache.put("p", 19, j, 0, blob)
        assert cache.total_bytes <= 5000
    on_disk = sum(p.stat().st_size for p in (tmp_path / "c").rglob("*.tile"))
    assert on_disk == cache.total_bytes and len(list((tmp_path / "c").rglob("*.tile"))) == len(cache)
    again = DiskTileCache(tmp_path / "c", max_bytes=5000)
    assert again.total_bytes == cache.total_bytes and len(again) == len(cache)


def test_disk_cache_detects_corrupt_and_truncated_files(tmp_path):
    cache = DiskTileCache(tmp_path / "c")
    cache.put("p", 1, 0, 0, b"hello tile")
    cache.put("p", 1, 1, 0, b"other tile")
    cache.put("q", 1, 0, 0, b"third tile")
    path = cache.path_for("p", 1, 0, 0)
    raw = bytearray(path.read_bytes())
    raw[-1] ^= 0xFF
    path.write_bytes(bytes(raw))
    path2 = cache.path_for("p", 1, 1, 0)
    path2.write_bytes(path2.read_bytes()[:-3])
    assert cache.get("p", 1, 0, 0) is None and not path.exists()
    assert cache.get("p", 1, 1, 0) is None and not path2.exists()
    assert cache.corrupt_dropped == 2
    assert cache.get("q", 1, 0, 0) == b"third tile"  # provider id is part of the key
    assert cache.path_for("p", 1, 0, 0) != cache.path_for("q", 1, 0, 0)


def test_memory_lru():
    mem = MemoryTileCache(max_tiles=2)
    a, b, c = (np.zeros((2, 2, 3), np.uint8) + i for i in range(3))
    mem.put("a", a)
    mem.put("b", b)
    assert mem.get("a") is a  # a is now the most recent
    mem.put("c", c)
    assert "b" not in mem and "a" in mem and "c" in mem and len(mem) == 2
    with pytest.raises(ValueError):
        a[0, 0, 0] = 9  # cached tiles are read-only


def test_corrupt_cached_tile_is_refetched(server, tmp_path, enu_to_latlon):
    lat, lon = enu_to_latlon(5.0, 5.0)
    with open_tile_source(server.template, cache_dir=tmp_path / "cache") as src:
        first = src.crop(lat, lon, 128, MPP)
    files = sorted((tmp_path / "cache").rglob("*.tile"))
    assert len(files) == len(server.requests) > 0
    raw = bytearray(files[0].read_bytes())
    raw[len(raw) // 2] ^= 0x55
    files[0].write_bytes(bytes(raw))
    n = len(server.requests)
    with open_tile_source(server.template, cache_dir=tmp_path / "cache") as src:
        again = src.crop(lat, lon, 128, MPP)
        assert src.disk.corrupt_dropped == 1 and src.stats["disk_hits"] == len(files) - 1
    assert len(server.requests) == n + 1  # only the corrupt one was fetched again
    np.testing.assert_array_equal(again.image, first.image)
    assert files[0].exists()  # rewritten good


def test_offline_serves_cached_tiles_and_reports_missing_ones(server, tmp_path, enu_to_latlon):
    here, far = enu_to_latlon(0.0, 0.0), enu_to_latlon(3000.0, 0.0)
    with open_tile_source(server.template, cache_dir=tmp_path / "cache") as src:
        online = src.crop(*here, 128, MPP)
        cached = set(src.plan(*here, 128, MPP)[0].tile_keys)
        for east_m in range(5, 60, 5):  # a crop that needs some cached and some uncached tiles
            near = enu_to_latlon(float(east_m), 0.0)
            keys = set(src.plan(*near, 128, MPP)[0].tile_keys)
            if keys & cached and keys - cached:
                break
    server.stop()  # no network at all from here on
    with open_tile_source(server.template, cache_dir=tmp_path / "cache", offline=True) as src:
        offline = src.crop(*here, 128, MPP)
        np.testing.assert_array_equal(offline.image, online.image)
        partial = src.crop(*near, 128, MPP)
        assert 0.0 < partial.valid_fraction < 1.0
        assert partial.missing_tiles and all("TileOfflineMiss" in m[3] for m in partial.missing_tiles)
        assert not partial.image[~partial.valid_mask].any()
        with pytest.raises(TileOfflineMiss):
            src.crop(*far, 128, MPP)
    with open_tile_source(server.template, cache_dir=None, offline=True) as src, pytest.raises(TileOfflineMiss):
        src.crop(*here, 128, MPP)
