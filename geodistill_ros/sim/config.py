"""Configuration of synthetic worlds: styles, the satellite-ground gap switches, errors."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

STYLES = ("downtown", "suburb", "rural", "industrial")  # append only: the index seeds the world
DEFAULT_ORIGIN_LAT = 37.7793
DEFAULT_ORIGIN_LON = -122.4193


class SimError(ValueError):
    """Bad input to the synthetic-world tools (unknown style, zero size, bad path, existing output)."""


@dataclass(frozen=True)
class GapConfig:
    """Switches of the satellite-ground gap; each one on by default, ``GapConfig.none()`` turns all off.

    - ``parked_cars``: the satellite shows another set of parked cars than the ground view.
    - ``transients``: the ground view has moving cars and pedestrians the satellite lacks.
    - ``season``: vegetation (grass, fields, canopies, hedges) has another season's colour in the satellite.
    - ``shadows``: the satellite has sun shadows; the ground view has none.
    - ``color_shift``: the satellite has a colour/exposure shift, haze, blur and sensor noise.
    - ``canopy_from_below``: tree canopies look darker and different from below than from above.
    - ``surface_texture``: fine ground texture (grain, stains, asphalt repairs) differs between the two times.
    - ``attitude``: dataset panoramas (and the raw-pixel baseline's) are taken with a slightly tilted camera
      (vehicle roll and pitch up to ``max_tilt_deg``) and a camera height off by up to ``max_height_error_m``,
      unknown to the user. Bag frames are level at the nominal height (their ground truth is a planar pose).
    - ``misregistration``: the satellite is displaced by a smooth field of up to ``max_misregistration_m``.
    """

    parked_cars: bool = True
    transients: bool = True
    season: bool = True
    shadows: bool = True
    color_shift: bool = True
    canopy_from_below: bool = True
    surface_texture: bool = True
    attitude: bool = True
    misregistration: bool = True
    max_misregistration_m: float = 1.0
    max_tilt_deg: float = 1.5
    max_height_error_m: float = 0.15

    @classmethod
    def none(cls) -> GapConfig:
        return cls(**{f.name: False for f in fields(cls) if f.type in (bool, "bool")}, max_misregistration_m=0.0,
                   max_tilt_deg=0.0, max_height_error_m=0.0)

    @classmethod
    def from_any(cls, gap) -> GapConfig:
        """``True``/``None`` -> all on, ``False`` -> all off, a dict -> those switches, a GapConfig -> itself."""
        if gap is None or gap is True:
            return cls()
        if gap is False:
            return cls.none()
        if isinstance(gap, GapConfig):
            return gap
        if isinstance(gap, dict):
            known = {f.name for f in fields(cls)}
            unknown = set(gap) - known
            if unknown:
                raise SimError(f"unknown gap switch(es) {sorted(unknown)}; known: {sorted(known)}")
            return cls(**gap)
        raise SimError(f"gap must be a bool, a dict or a GapConfig, got {type(gap).__name__}")

    def to_dict(self) -> dict:
        return asdict(self)

    def draw_attitude(self, rng) -> tuple[float, float, float]:
        """(roll_rad, pitch_rad, height_error_m) of one capture; zeros when ``attitude`` is off (draws anyway)."""
        r = rng.uniform(-1.0, 1.0, 3)
        if not self.attitude:
            return 0.0, 0.0, 0.0
        t = math.radians(self.max_tilt_deg)
        return float(r[0] * t), float(r[1] * t), float(r[2] * self.max_height_error_m)

    @property
    def any_on(self) -> bool:
        return any(v for k, v in asdict(self).items() if isinstance(v, bool))


def pinhole_focal_px(width_px: float, hfov_deg: float) -> float:
    """Focal length in pixels of a pinhole image ``width_px`` wide with horizontal field of view ``hfov_deg``."""
    return width_px / 2.0 / math.tan(math.radians(hfov_deg) / 2.0)


def check_style(style: str) -> str:
    if style not in STYLES:
        raise SimError(f"unknown style {style!r}; choose one of {', '.join(STYLES)}")
    return style


def check_world_size(size_m: float, meters_per_pixel: float) -> tuple[float, float]:
    try:
        size_m, meters_per_pixel = float(size_m), float(meters_per_pixel)
    except (TypeError, ValueError) as exc:
        raise SimError(f"size_m and meters_per_pixel must be numbers ({exc})") from None
    if not size_m > 0:
        raise SimError(f"world size must be > 0 m, got {size_m}")
    if not meters_per_pixel > 0:
        raise SimError(f"meters_per_pixel must be > 0, got {meters_per_pixel}")
    if size_m < 40:
        raise SimError(f"world size must be at least 40 m, got {size_m}")
    if size_m / meters_per_pixel > 20000:
        raise SimError(f"world of {size_m} m at {meters_per_pixel} m/px is over 20000 px wide; use coarser pixels")
    return size_m, meters_per_pixel
