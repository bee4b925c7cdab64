"""Local tile providers: XYZ folders (``file://`` templates or plain directories) and MBTiles (read-only)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import threading
from pathlib import Path
from urllib.parse import unquote, urlparse
from urllib.request import url2pathname

from .. import geometry as geo
from .errors import TileFetchError, TileNotFound, TileSourceError, TileTooLarge
from .provider import ProviderInfo, TileProvider

_IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".webp")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")


def _int_dirs(path: Path) -> list[int]:
    try:
        return sorted(int(p.name) for p in path.iterdir() if p.is_dir() and p.name.isdigit())
    except OSError:
        return []


def _pyramid_bounds(folder: Path):
    """Bounds from a ``pyramid.json`` written by :func:`write_tile_pyramid`, if there is one."""
    try:
        b = json.loads((folder / "pyramid.json").read_text())["bounds"]
        return tuple(float(v) for v in b)
    except (OSError, ValueError, KeyError, TypeError):
        return None


class FileTileProvider(TileProvider):
    """``file:///dir/{z}/{x}/{y}.png``, or a folder holding ``{z}/{x}/{y}.<ext>`` (or a world folder)."""

    remote = False
    max_concurrency = 4

    def __init__(self, spec: str | os.PathLike, *, max_tile_bytes: int = 16 << 20, info: ProviderInfo | None = None):
        spec_s = str(spec)
        if spec_s.startswith("file://"):
            parsed = urlparse(spec_s)
            if parsed.netloc not in ("", "localhost"):
                raise TileSourceError(f"file URL with a host is not supported: {spec_s!r}")
            template = url2pathname(unquote(parsed.path))
        else:
            template = spec_s
        if "{" not in template:
            template = self._template_for_folder(Path(template))
        names = set(_PLACEHOLDER.findall(template))
        if not names <= {"z", "x", "y", "-y"} or not ({"z", "x"} <= names and names & {"y", "-y"}):
            raise TileSourceError(f"file template needs exactly {{z}}, {{x}}, {{y}} (or {{-y}}): {template!r}")
        self.template = str(Path(template).absolute())
        root = Path(self.template.split("{z}")[0]) if "{z}" in self.template else None
        if root is None or not root.is_dir():
            raise TileSourceError(f"tile folder does not exist: {root or template}")
        zooms = _int_dirs(root)
        base = info or ProviderInfo()
        if info is None and zooms:
            base = ProviderInfo(min_zoom=zooms[0], max_zoom=zooms[-1], bounds=_pyramid_bounds(root))
        super().__init__(base)
        self.root = root
        self.max_tile_bytes = int(max_tile_bytes)
        self.provider_id = f"file:{self.template}"

    @staticmethod
    def _template_for_folder(folder: Path) -> str:
        if not folder.is_dir():
            raise TileSourceError(f"no such tile folder or file: {folder}")
        world = folder / "world.json"
        if world.is_file():  # a synthetic world folder: its tiles live in world["tiles"]["dir"]
            try:
                tiles = json.loads(world.read_text()).get("tiles", {})
                folder = folder / tiles.get("dir", "tiles")
            except (OSError, ValueError, AttributeError) as exc:
                raise TileSourceError(f"unreadable world.json in {folder}: {exc}") from None
        zooms = _int_dirs(folder)
        if not zooms:
            raise TileSourceError(f"{folder} holds no {{z}}/{{x}}/{{y}} tile folders")
        for z in reversed(zooms):
            for xdir in sorted((folder / str(z)).iterdir()):
                if xdir.is_dir():
                    for f in xdir.iterdir():
                        if f.suffix.lower() in _IMAGE_EXTS and f.stem.isdigit():
                            return str(folder / "{z}" / "{x}" / ("{y}" + f.suffix))
        raise TileSourceError(f"{folder} holds no image tiles")

    def fetch(self, z: int, x: int, y: int) -> bytes:
        path = self.template.replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y))
        path = path.replace("{-y}", str(geo.tms_row(y, z)))
        try:
            size = os.stat(path).st_size
            if size > self.max_tile_bytes:
                raise TileTooLarge(f"tile file of {size} bytes exceeds the cap: {path}", (z, x, y))
            with open(path, "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise TileNotFound(f"no tile file {path}", (z, x, y)) from None
        except OSError as exc:
            raise TileFetchError(f"cannot read {path}: {exc.strerror}", (z, x, y)) from None


class MBTilesProvider(TileProvider):
    """An MBTiles file opened read-only (sqlite URI ``mode=ro``); rows are TMS (:func:`geometry.tms_row`)."""

    remote = False
    max_concurrency = 4

    def __init__(self, path: str | os.PathLike, info: ProviderInfo | None = None):
        path = Path(path)
        if not path.is_file():
            raise TileSourceError(f"no such MBTiles file: {path}")
        self.path = path.absolute()
        try:
            self._con = sqlite3.connect(f"{self.path.as_uri()}?mode=ro", uri=True, check_same_thread=False)
            meta = dict(self._con.execute("SELECT name, value FROM metadata").fetchall())
            zmin, zmax = self._con.execute("SELECT MIN(zoom_level), MAX(zoom_level) FROM tiles").fetchone()
        except sqlite3.Error as exc:
            raise TileSourceError(f"{path} is not a readable MBTiles file: {exc}") from None
        self._lock = threading.Lock()
        fmt = str(meta.get("format", "png")).lower()
        if fmt in ("pbf", "mvt"):
            raise TileSourceError(f"{path} holds vector tiles ({fmt}); raster imagery is needed")
        if zmin is None:
            raise TileSourceError(f"{path} holds no tiles")
        bounds = None
        try:
            b = tuple(float(v) for v in str(meta["bounds"]).split(","))
            bounds = b if len(b) == 4 else None
        except (KeyError, ValueError):
            pass
        super().__init__(info or ProviderInfo(min_zoom=int(meta.get("minzoom", zmin)),
                                              max_zoom=int(meta.get("maxzoom", zmax)), bounds=bounds))
        self.metadata = meta
        self.provider_id = f"mbtiles:{self.path}"

    def fetch(self, z: int, x: int, y: int) -> bytes:
        try:
            with self._lock:
                row = self._con.execute(
                    "SELECT tile_data FROM tiles WHERE zoom_level=? AND tile_column=? AND tile_row=?",
                    (int(z), int(x), geo.tms_row(int(y), int(z)))).fetchone()
        except sqlite3.Error as exc:
            raise TileFetchError(f"MBTiles read failed for {z}/{x}/{y}: {exc}", (z, x, y)) from None
        if row is None or row[0] is None:
            raise TileNotFound(f"no tile {z}/{x}/{y} in {self.path.name}", (z, x, y))
        return bytes(row[0])

    def close(self) -> None:
        with self._lock:
            self._con.close()
