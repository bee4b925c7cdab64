"""Label-free calibration of a localizer's constant position offset, from the symmetry of a half turn.

Why: the weak loss only compares the best score of a pair against the other pairs of the batch, so it is blind
to a constant shift between satellite features and projected ground features. A weakly supervised localizer
therefore learns some fixed offset ``b`` (our runs: 1-2 satellite pixels, different per training run).

How, without positions: rotate the scene by 180 degrees (satellite patch turned, north-centred panorama rolled
by half its width; :func:`training.augment.rotate_scene_90` with ``k=2``). For a camera at ``x`` the localizer
answers ``p = x + b`` on the original pair and ``p' = (S - x) + b`` on the turned one (continuous pixels, patch
size ``S``), because the same network adds the same offset. Turning ``p'`` back gives ``S - p' = x - b``, so
``b = (p - (S - p')) / 2`` for every pair, whatever ``x`` is. The median over pairs whose two answers agree
(gross failures dropped) is the offset. Nothing but the weak pairing (ground image, satellite patch) is used.
"""

from __future__ import annotations

import numpy as np
import torch
from tqdm import tqdm

from geodistill_ros.posterior import posterior_from_logits
from training.augment import rotate_scene_90
from training.queries import make_query, query_tensors, spread_indices

DEFAULT_AGREE_PX = 10.0  # pairs whose half-turn answers disagree by more (2 m at 0.2 m/px) are not used


def half_turn_offsets(p_rc_px: np.ndarray, p_turned_rc_px: np.ndarray, size_px: float) -> np.ndarray:
    """Per-pair offset estimates ``(p - (S - p')) / 2``: ``[N, 2]`` (row, col) pixels."""
    p = np.asarray(p_rc_px, dtype=np.float64)
    q = np.asarray(p_turned_rc_px, dtype=np.float64)
    return (p - (float(size_px) - q)) / 2.0


def robust_offset(per_pair_rc_px: np.ndarray, agree_px: float = DEFAULT_AGREE_PX) -> dict:
    """Median of the per-pair offsets whose half-turn answers agree (``|2 b_i| <= agree_px``).

    Returns ``{"offset_rc_px": [row, col], "n_used", "n_total", "mad_rc_px"}``; raises ``ValueError`` when no
    pair agrees (the localizer is not working on this data, so there is nothing to calibrate).
    """
    d = np.asarray(per_pair_rc_px, dtype=np.float64).reshape(-1, 2)
    keep = np.hypot(*(2.0 * d).T) <= agree_px
    if not np.any(keep):
        raise ValueError(f"no pair's half-turn answers agree within {agree_px} px: nothing to calibrate")
    med = np.median(d[keep], axis=0)
    mad = np.median(np.abs(d[keep] - med), axis=0)
    return {"offset_rc_px": [float(med[0]), float(med[1])], "n_used": int(keep.sum()), "n_total": int(len(d)),
            "mad_rc_px": [float(mad[0]), float(mad[1])]}


def _estimate(localizer, sat: torch.Tensor, canvas: torch.Tensor, mask: torch.Tensor) -> tuple[float, float]:
    logits = localizer(canvas, mask, sat)["logits"][0].numpy()
    post = posterior_from_logits(logits, localizer.temperature, localizer.prob_origin_px, localizer.prob_stride_px,
                                 localizer.cfg.meters_per_pixel, sat.shape[-1])
    return post.row_px, post.col_px


@torch.no_grad()
def calibrate_offset(localizer, dataset, max_samples: int | None = 200, agree_px: float = DEFAULT_AGREE_PX,
                     progress: bool = True) -> dict:
    """Estimate the localizer's constant offset on panoramas of ``dataset`` (only ``sat`` and the panorama
    are read, never a position label). Returns :func:`robust_offset`'s dict; subtract ``offset_rc_px`` from
    the localizer's answers to correct it."""
    localizer.eval()
    idx = spread_indices(len(dataset), max_samples)
    hw = (localizer.cfg.ground_height_px, localizer.cfg.ground_width_px)
    size = None
    p, q = [], []
    for k in tqdm(idx, disable=not progress, desc="offset", dynamic_ncols=True):
        sat = dataset[int(k)]["sat"][None]
        size = sat.shape[-1]
        canvas, mask = make_query(dataset.load_panorama(int(k)), 360.0, 0.0, hw)
        g, m = query_tensors(canvas, mask)
        p.append(_estimate(localizer, sat, g, m))
        q.append(_estimate(localizer, *rotate_scene_90(sat, g, m, 2)))
    if size is None:
        raise ValueError("empty dataset: nothing to calibrate")
    return robust_offset(half_turn_offsets(np.array(p), np.array(q), size), agree_px)
