"""Satellite tiles: providers (XYZ over HTTP(S), file folders, MBTiles, GeoTIFF), caches and the crop builder.

No torch, no ROS.  See docs/ARCHITECTURE.md ("Runtime APIs") for the contract::

    src = open_tile_source(spec, cache_dir=None, offline=False, user_agent=None, timeout_s=5.0)
    crop = src.crop(lat_deg, lon_deg, size_px, meters_per_pixel)
"""

from .crop import Crop
from .errors import *  # noqa: F403
from .errors import __all__ as _error_names
from .source import TileSource, TileSourceConfig, open_tile_source

__all__ = ["open_tile_source", "Crop", "TileSource", "TileSourceConfig", *_error_names]
