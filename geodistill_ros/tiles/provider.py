"""The interface every XYZ tile provider implements: ``fetch(z, x, y) -> bytes`` plus a little description."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ProviderInfo:
    """What a provider knows about itself (``bounds``: ``(min_lon, min_lat, max_lon, max_lat)`` or None)."""

    min_zoom: int = 0
    max_zoom: int = 22
    tile_size: int = 256
    bounds: tuple[float, float, float, float] | None = None


class TileProvider:
    """Base class. ``provider_id`` is stable, key-free text naming the imagery (it keys the disk cache);
    ``remote`` says whether fetches go over the network (then the disk cache and offline mode apply)."""

    provider_id: str = ""
    remote: bool = False
    max_concurrency: int = 1

    def __init__(self, info: ProviderInfo | None = None):
        self.info = info or ProviderInfo()

    def fetch(self, z: int, x: int, y: int) -> bytes:
        """Encoded tile bytes; raises a :class:`~geodistill_ros.tiles.errors.TileFetchError` subclass."""
        raise NotImplementedError

    def describe(self) -> str:
        return self.provider_id

    def close(self) -> None:
        pass
