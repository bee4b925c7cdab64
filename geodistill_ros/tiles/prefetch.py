"""Background prefetcher: warms the caches with the tiles of crops ahead along the current heading."""

from __future__ import annotations

import logging
import math
import threading

from .. import geometry as geo
from .errors import TileError

log = logging.getLogger(__name__)


def points_ahead(lat_deg, lon_deg, yaw_rad, distance_m, fractions=(0.5, 1.0)):
    """``(lat, lon)`` of the points ``f * distance_m`` ahead along ENU ``yaw_rad`` (CCW from east)."""
    out = []
    for f in fractions:
        east, north = f * distance_m * math.cos(yaw_rad), f * distance_m * math.sin(yaw_rad)
        lat, lon, _ = geo.enu_to_geodetic(east, north, 0.0, lat_deg, lon_deg)
        out.append((float(lat), float(lon)))
    return out


class Prefetcher:
    """One daemon thread; keeps only the newest request (a robot only cares about where it is heading now)."""

    def __init__(self, source):
        self.source = source
        self._cond = threading.Condition()
        self._pending = None
        self._stop = False
        self.completed = 0
        self.errors = 0
        self._idle = threading.Event()
        self._idle.set()
        self._thread = threading.Thread(target=self._run, name="tiles-prefetch", daemon=True)
        self._thread.start()

    def request(self, lat_deg, lon_deg, yaw_rad, size_px, meters_per_pixel, distance_m=None) -> None:
        with self._cond:
            self._pending = (lat_deg, lon_deg, yaw_rad, size_px, meters_per_pixel, distance_m)
            self._idle.clear()
            self._cond.notify()

    def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Block until every request so far has been handled (for tests and benchmarks)."""
        return self._idle.wait(timeout_s)

    def _run(self) -> None:
        while True:
            with self._cond:
                while self._pending is None and not self._stop:
                    self._cond.wait()
                if self._stop:
                    return
                job, self._pending = self._pending, None
            try:
                self._warm(*job)
            except TileError as exc:  # bad request or the source failing: counted, never raised
                self.errors += 1
                log.debug("prefetch failed: %s", exc)
            except Exception:  # noqa: BLE001 - the thread must survive anything
                self.errors += 1
                log.exception("prefetch crashed")
            with self._cond:
                if self._pending is None:
                    self._idle.set()

    def _warm(self, lat, lon, yaw_rad, size_px, mpp, distance_m) -> None:
        distance = float(distance_m) if distance_m is not None else float(size_px) * float(mpp)
        keys = []
        for plat, plon in points_ahead(float(lat), float(lon), float(yaw_rad), distance):
            plan, _ = self.source.plan(plat, plon, size_px, mpp)
            keys.extend(k for k in plan.tile_keys if k not in keys)
        _, failures = self.source.get_tiles(keys)
        self.errors += len(failures)
        self.completed += 1

    def stop(self) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        self._thread.join(timeout=5.0)
