"""Typed failures of tile sources: every problem a caller can meet is a subclass of :class:`TileError`.

Per-tile fetch problems carry the tile ``(z, x, y)``; messages never contain an API key (URLs are redacted
before they reach an exception).
"""

from __future__ import annotations


class TileError(Exception):
    """Base class of every tile failure."""


class TileRequestError(TileError, ValueError):
    """The caller asked for something invalid (size, resolution, latitude out of range, ...)."""


class TileSourceError(TileError):
    """The source cannot be opened or is malformed (bad spec, missing file, not an MBTiles database, ...)."""


class TileOutOfCoverage(TileError):
    """The requested area lies outside what the source covers."""


class TileFetchError(TileError):
    """One tile could not be obtained."""

    def __init__(self, message: str, tile: tuple[int, int, int] | None = None):
        super().__init__(message)
        self.tile = tile


class TileOfflineMiss(TileFetchError):
    """Offline mode and the tile is not in the cache."""


class TileServerDown(TileFetchError):
    """The server could not be reached (connection refused / reset / DNS failure)."""


class TileTimeout(TileFetchError):
    """The server did not answer (or finish answering) within the timeout."""


class TileHTTPError(TileFetchError):
    """The server answered with an unexpected HTTP status."""

    def __init__(self, message: str, tile: tuple[int, int, int] | None = None, status: int | None = None):
        super().__init__(message, tile)
        self.status = status


class TileNotFound(TileHTTPError):
    """The tile does not exist (HTTP 404, or absent from a local folder / MBTiles file)."""


class TileForbidden(TileHTTPError):
    """Access refused (HTTP 401 / 403): a missing or wrong API key, or a blocked User-Agent."""


class TileRedirectError(TileHTTPError):
    """The server redirected (e.g. HTTP -> HTTPS); redirects are not followed, fix the URL template."""


class TileContentTypeError(TileFetchError):
    """The response's Content-Type is not an image."""


class TileTooLarge(TileFetchError):
    """The response is larger than the configured tile-size cap."""


class TileDecodeError(TileFetchError):
    """The bytes are not a decodable image of the expected size."""


__all__ = [
    "TileError",
    "TileRequestError",
    "TileSourceError",
    "TileOutOfCoverage",
    "TileFetchError",
    "TileOfflineMiss",
    "TileServerDown",
    "TileTimeout",
    "TileHTTPError",
    "TileNotFound",
    "TileForbidden",
    "TileRedirectError",
    "TileContentTypeError",
    "TileTooLarge",
    "TileDecodeError",
]
