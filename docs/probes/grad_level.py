"""Add a zero-mean NCC of luma gradients to the photometric level (env ``GRAD_W`` its weight, ``GRAD_MODE``
signed / double / mag), then evaluate. Arguments: those of ``geodistill eval``. Session 11,
docs/TRAINING_RESULTS.md.
"""

import os
import sys

import torch
import torch.nn.functional as F

from training import cli_eval
from training.models import localizer as L
from training.models.correlation import zncc_positive
from training.models.projection import project_to_bev

W = float(os.environ.get("GRAD_W", "0"))
MODE = os.environ.get("GRAD_MODE", "signed")
LUMA = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)

def grads(img, mask=None):
    """[B,3,H,W] -> gradient channels [B,2,H,W] (central differences of luma), mask eroded accordingly."""
    y = (img * LUMA).sum(1, keepdim=True)
    yp = F.pad(y, (1, 1, 1, 1), mode="replicate")
    gx = (yp[..., 1:-1, 2:] - yp[..., 1:-1, :-2]) / 2
    gy = (yp[..., 2:, 1:-1] - yp[..., :-2, 1:-1]) / 2
    if MODE == "signed":
        g = torch.cat([gx, gy], 1)
    elif MODE == "double":  # polarity-free orientation
        n = (gx * gx + gy * gy).sqrt().clamp_min(1e-6)
        g = torch.cat([(gx * gx - gy * gy) / n, 2 * gx * gy / n], 1)
    elif MODE == "mag":
        g = (gx * gx + gy * gy).sqrt()
    else:
        raise ValueError(MODE)
    if mask is None:
        return g, None
    mp = F.pad(mask, (1, 1, 1, 1), mode="constant", value=0.0)
    m = mask * mp[..., 1:-1, 2:] * mp[..., 1:-1, :-2] * mp[..., 2:, 1:-1] * mp[..., :-2, 1:-1]
    return g * m, m

orig = L.Localizer.correlate_photometric

def patched(self, ground, ground_mask, sat_rgb, fft=False):
    base = orig(self, ground, ground_mask, sat_rgb, fft=fft)
    if W <= 0:
        return base
    bev = project_to_bev(ground, self.photo_grid)
    m = project_to_bev(ground_mask, self.photo_grid)
    m = (m > 0.999).float()
    gb, mb = grads(bev * m, m)
    gs, _ = grads(sat_rgb)
    return base + W * zncc_positive(gs, gb, mb, fft=fft)

L.Localizer.correlate_photometric = patched

if __name__ == "__main__":
    sys.exit(cli_eval.main(sys.argv[1:]))
