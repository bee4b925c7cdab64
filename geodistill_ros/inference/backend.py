"""One interface for every inference backend, and the :class:`Model` that the Localizer calls.

A backend runs the three graphs of a model folder by name (``run(graph, feeds) -> outputs``, numpy in and
out); :class:`Model` checks the arrays against ``model.json`` and speaks the contract's API
(``encode_satellite``, ``match``, ``orientation``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence

import numpy as np

from geodistill_ros.inference.errors import InputError, ModelMismatchError
from geodistill_ros.inference.model_files import SAT_MULTIPLE_PX, graph_io, sat_feat_names


class Backend(ABC):
    """Runs the graphs of one model folder.  Subclasses load in ``__init__`` and raise
    :class:`~geodistill_ros.inference.errors.BackendUnavailableError` when they cannot run here."""

    name: str = "backend"

    @abstractmethod
    def run(self, graph: str, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Run ``graph`` on named float32 inputs; return its named outputs as numpy arrays."""

    def close(self) -> None:  # noqa: B027 (optional hook, not abstract)
        """Release sessions / engines / device memory."""


class Model:
    """A loaded model: ``meta`` (model.json), ``backend_name`` and the three calls of the contract."""

    def __init__(self, meta: dict, backend: Backend, model_dir: str = "", fallback_reasons: Sequence[str] = ()):
        self.meta = meta
        self.backend = backend
        self.model_dir = str(model_dir)
        self.fallback_reasons = list(fallback_reasons)  # why faster backends were skipped by "auto"
        self._io = graph_io(meta)
        self._feat_names = sat_feat_names(meta)

    @property
    def backend_name(self) -> str:
        return self.backend.name

    @property
    def has_orientation(self) -> bool:
        return "orientation" in self._io

    def __repr__(self) -> str:
        return f"Model({self.model_dir!r}, backend={self.backend_name!r})"

    def close(self) -> None:
        self.backend.close()

    # --- the contract ----------------------------------------------------------------------------
    def encode_satellite(self, sat: np.ndarray) -> dict[str, np.ndarray]:
        """Satellite patch float32 ``[1, 3, S, S]`` in [0, 1] (S a multiple of 32) -> ``{"sat_feat_i": ...}``."""
        sat = _as_input(sat, "sat", 3)
        size = sat.shape[-1]
        if sat.shape[-2] != size or size % SAT_MULTIPLE_PX:
            raise InputError(f"sat must be square with a side that is a multiple of {SAT_MULTIPLE_PX}, "
                             f"got {list(sat.shape)}")
        lo, hi = self.meta.get("sat_size_range_px", (size, size))
        if not lo <= size <= hi:
            raise InputError(f"sat side {size} px is outside the {lo}..{hi} px this model was exported for "
                             "(re-export with a larger --max-sat-size)")
        return self.backend.run("satellite_encoder", {"satellite": sat})

    def match(self, ground: np.ndarray, ground_mask: np.ndarray, sat_feats) -> dict[str, np.ndarray]:
        """North-aligned canvas ``[1, 3, Hg, Wg]`` + mask ``[1, 1, Hg, Wg]`` + features from
        :meth:`encode_satellite` (a dict, or a list in level order) -> ``{"logits", "prob"}`` ``[1, Hp, Wp]``."""
        feeds = self._ground_feeds(ground, ground_mask)
        if isinstance(sat_feats, Mapping):
            missing = [n for n in self._feat_names if n not in sat_feats]
            if missing:
                raise InputError(f"sat_feats lacks {missing} (pass what encode_satellite returned)")
            values = [sat_feats[n] for n in self._feat_names]
        else:
            values = list(sat_feats)
            if len(values) != len(self._feat_names):
                raise InputError(f"expected {len(self._feat_names)} satellite feature levels, got {len(values)}")
        for name, value in zip(self._feat_names, values):
            feeds[name] = np.ascontiguousarray(value, dtype=np.float32)
        return self.backend.run("ground_matcher", feeds)

    def orientation(self, sat: np.ndarray, ground: np.ndarray, ground_mask: np.ndarray) -> np.ndarray:
        """Satellite patch ``[1, 3, So, So]`` centred on the position estimate + ground canvas + mask ->
        ``yaw_logits [1, bins]`` (bin k = yaw correction of ``-range/2 + k + 0.5`` degrees, CCW positive)."""
        if not self.has_orientation:
            raise ModelMismatchError(f"the model in {self.model_dir} has no orientation network")
        sat = _as_input(sat, "sat", 3)
        side = self.meta["orientation"]["sat_size_px"]
        if sat.shape[-2:] != (side, side):
            raise InputError(f"orientation sat must be [1, 3, {side}, {side}], got {list(sat.shape)}")
        feeds = {"satellite": sat, **self._ground_feeds(ground, ground_mask)}
        return self.backend.run("orientation", feeds)["yaw_logits"]

    def _ground_feeds(self, ground: np.ndarray, ground_mask: np.ndarray) -> dict[str, np.ndarray]:
        hw = (self.meta["ground_height_px"], self.meta["ground_width_px"])
        ground = _as_input(ground, "ground", 3)
        ground_mask = _as_input(ground_mask, "ground_mask", 1)
        if ground.shape[-2:] != hw or ground_mask.shape[-2:] != hw:
            raise InputError(f"ground / ground_mask must be {hw[0]}x{hw[1]}, got {list(ground.shape)} / "
                             f"{list(ground_mask.shape)}")
        return {"ground": ground, "ground_mask": ground_mask}


def _as_input(array: np.ndarray, name: str, channels: int) -> np.ndarray:
    array = np.asarray(array)
    if array.ndim != 4 or array.shape[0] != 1 or array.shape[1] != channels:
        raise InputError(f"{name} must be [1, {channels}, H, W], got {list(array.shape)}")
    if not np.issubdtype(array.dtype, np.floating):
        raise InputError(f"{name} must be float32 in [0, 1], got dtype {array.dtype}")
    return np.ascontiguousarray(array, dtype=np.float32)
