"""Coarse yaw search for the no-heading-prior case: rotate the query, score each rotation with the localizer.

The canvas is rolled through candidate yaw corrections (default every 30 degrees, all the way round); each
rotation is matched against the satellite features and scored by its best fused logit. The best candidate
(refined by a parabola through its neighbours' scores) is then within the orientation net's +-45 degrees,
which refines it.
"""

from __future__ import annotations

import numpy as np
import torch

from geodistill_ros.posterior import parabola_offset
from training.augment import roll_canvas


@torch.no_grad()
def coarse_yaw_search(localizer, ground: torch.Tensor, ground_mask: torch.Tensor, sat_feats,
                      step_deg: float = 30.0) -> dict:
    """Best yaw correction (degrees, CCW positive, in [-180, 180)) for one query ``[1, 3, Hg, Wg]``.

    Returns ``{"yaw_correction_deg", "candidates_deg", "scores"}``; apply the correction to the yaw the canvas
    was aligned with (the same convention as the orientation net's bins).
    """
    if ground.shape[0] != 1:
        raise ValueError("coarse_yaw_search takes one query at a time")
    cands = np.arange(-180.0, 180.0, step_deg)
    shifts = torch.tensor(-cands, dtype=torch.float32)  # undo a correction c by rolling the canvas by -c
    g = roll_canvas(ground.expand(len(cands), -1, -1, -1), shifts)
    m = roll_canvas(ground_mask.expand(len(cands), -1, -1, -1), shifts)
    feats = [f.expand(len(cands), -1, -1, -1) for f in sat_feats]
    logits = localizer.match(g, m, feats)["logits"]
    scores = logits.flatten(1).amax(dim=1).numpy()
    k = int(np.argmax(scores))
    lo, mid, hi = scores[(k - 1) % len(cands)], scores[k], scores[(k + 1) % len(cands)]
    dk = parabola_offset(lo, mid, hi, flat_tol=0.0)
    best = (cands[k] + dk * step_deg + 180.0) % 360.0 - 180.0
    return {"yaw_correction_deg": float(best), "candidates_deg": cands.tolist(), "scores": scores.tolist()}
