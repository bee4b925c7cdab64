"""Stage objectives: the half-turn teacher ensemble (exact grid flip, cancels a constant offset)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from training.objectives import half_turn_ensemble

STRIDES = (8, 4)


class PoolingMatcher(torch.nn.Module):
    """A matcher whose level maps are the satellite's mean channel pooled to each stride, rolled by
    ``shift_cells`` columns at the finest level (a constant offset); it ignores the ground view."""

    def __init__(self, shift_cells: int = 0):
        super().__init__()
        self.shift = shift_cells

    def encode_satellite(self, sat):
        return [F.avg_pool2d(sat.mean(1, keepdim=True), s)[:, 0] for s in STRIDES]

    def correlate(self, ground, mask, feats, fft=False):
        assert ground.shape[-1] == mask.shape[-1] and fft
        return feats[:-1] + [torch.roll(feats[-1], self.shift, dims=-1)]


def _dot_satellite(row: int, col: int, size: int = 64) -> torch.Tensor:
    sat = torch.zeros(1, 3, size, size)
    sat[..., row, col] = 1.0
    return sat


def test_half_turn_ensemble_of_an_equivariant_matcher_is_its_own_map():
    sat = torch.rand(2, 3, 64, 64)
    ground, mask = torch.rand(2, 3, 8, 16), torch.ones(2, 1, 8, 16)
    model = PoolingMatcher()
    plain = model.correlate(ground, mask, model.encode_satellite(sat), fft=True)
    for a, b in zip(half_turn_ensemble(model, sat, ground, mask), plain):
        torch.testing.assert_close(a, b)


def test_half_turn_ensemble_cancels_a_constant_offset():
    sat = _dot_satellite(21, 30)  # finest-level cell (5, 7)
    ground, mask = torch.rand(1, 3, 8, 16), torch.ones(1, 1, 8, 16)
    biased = PoolingMatcher(shift_cells=2)
    fine = biased.correlate(ground, mask, biased.encode_satellite(sat), fft=True)[-1][0]
    assert int(fine.argmax()) == 5 * 16 + 9  # the biased matcher answers two cells east
    fused = half_turn_ensemble(biased, sat, ground, mask)[-1][0]
    cols = torch.arange(16, dtype=torch.float32)
    centroid = float((fused.sum(0) * cols).sum() / fused.sum())
    assert abs(centroid - 7.0) < 1e-5  # halfway between the answers at +2 and -2 cells: the truth
    assert float(fused[5, 9]) == float(fused[5, 5]) > 0
