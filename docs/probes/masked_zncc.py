"""Evaluate a localizer whose photometric level uses a masked ZNCC: the satellite's outside is missing data
(Padfield's masked NCC: window moments and the template's mean over the overlap only) instead of zero-valued
pixels, and windows that overlap the patch by less than half score -1. Arguments: those of ``geodistill eval``
(the window sums always use the correlation module's FFT form). Session 13, docs/TRAINING_RESULTS.md.
"""

import sys

import torch

import training.models.localizer as loc_module
from training import cli_eval
from training.models.correlation import EPS, _fft_xcorr

MIN_OVERLAP = 0.5


def _own_xcorr(maps: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """Kernel ``[b, c]`` over map ``[b, c]``, same size: maps ``[B, C, H, W]``, kernels ``[B, C, K, K]``."""
    b, c, h, w = maps.shape
    k = kernels.shape[-1]
    return _fft_xcorr(maps.reshape(b * c, 1, h, w), kernels.reshape(b * c, 1, k, k), "own").reshape(b, c, h, w)


def zncc_masked(sat: torch.Tensor, template: torch.Tensor, mask: torch.Tensor, fft: bool = False) -> torch.Tensor:
    """As ``training.models.correlation.zncc_positive``, with the outside of ``sat`` as missing data."""
    b, c, h, w = sat.shape
    weight = mask * mask
    area = weight.flatten(1).sum(dim=1).clamp_min(EPS)[:, None, None]  # [B, 1, 1]
    inside = torch.ones(b, c, h, w, dtype=sat.dtype)
    tw = template * weight
    overlap = _own_xcorr(inside[:, :1], weight).clamp_min(EPS)  # [B, 1, H, W]
    s1 = _own_xcorr(sat, weight.expand(-1, c, -1, -1))
    s2 = _own_xcorr(sat * sat, weight.expand(-1, c, -1, -1))
    t1, t2 = _own_xcorr(inside, tw), _own_xcorr(inside, tw * template)
    num = _own_xcorr(sat, tw) - s1 * t1 / overlap
    s_var = (s2 - s1 * s1 / overlap).clamp_min(0.0)
    t_var = (t2 - t1 * t1 / overlap).clamp_min(0.0)
    score = (num / (s_var * t_var).clamp_min(EPS * EPS).sqrt()).mean(dim=1)
    return torch.where(overlap[:, 0] >= MIN_OVERLAP * area, score, torch.full_like(score, -1.0))


loc_module.zncc_positive = zncc_masked  # the name the localizer's photometric level calls

if __name__ == "__main__":
    sys.exit(cli_eval.main(sys.argv[1:]))
