"""Label-free offset calibration: known values of the half-turn algebra, and a biased stand-in localizer."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from training.offset_calibration import calibrate_offset, half_turn_offsets, robust_offset

SIZE = 64
STRIDE = 4
ORIGIN = STRIDE / 2.0


def test_half_turn_offsets_known_values():
    # camera at (100, 50) in a 320 px patch, localizer offset (+1, -2): p = x + b, p' = (S - x) + b
    p = np.array([[101.0, 48.0]])
    p_turned = np.array([[221.0, 268.0]])
    np.testing.assert_allclose(half_turn_offsets(p, p_turned, 320), [[1.0, -2.0]])
    # an unbiased localizer: p' = S - p exactly
    np.testing.assert_allclose(half_turn_offsets([[10.0, 20.0]], [[310.0, 300.0]], 320), [[0.0, 0.0]])


def test_robust_offset_drops_pairs_whose_answers_disagree():
    good = np.tile([[0.5, -1.5]], (7, 1)) + np.linspace(-0.1, 0.1, 7)[:, None]
    gross = np.array([[30.0, 2.0], [-20.0, 40.0], [9.0, -9.0]])  # failures: the two answers are far apart
    out = robust_offset(np.vstack([good, gross]), agree_px=10.0)
    assert out["offset_rc_px"] == pytest.approx([0.5, -1.5])
    assert (out["n_used"], out["n_total"]) == (7, 10)
    with pytest.raises(ValueError, match="nothing to calibrate"):
        robust_offset(gross, agree_px=10.0)


class BiasedLocalizer(torch.nn.Module):
    """Peaks a Gaussian on the brightest satellite pixel shifted by ``bias_rc_px`` (ignores the ground view)."""

    def __init__(self, bias_rc_px):
        super().__init__()
        self.bias = np.asarray(bias_rc_px, dtype=np.float64)
        self.temperature = 1.0
        self.prob_origin_px = ORIGIN
        self.prob_stride_px = STRIDE
        self.cfg = SimpleNamespace(meters_per_pixel=0.5, ground_height_px=16, ground_width_px=32)
        self.seen_canvas_shapes = []

    def forward(self, ground, ground_mask, sat):
        self.seen_canvas_shapes.append(tuple(ground.shape))
        img = sat[0].sum(0).numpy()
        r, c = np.unravel_index(int(np.argmax(img)), img.shape)
        target = np.array([r + 0.5, c + 0.5]) + self.bias  # continuous pixel of the brightest pixel's centre
        n = SIZE // STRIDE
        rows = ORIGIN + STRIDE * np.arange(n)[:, None]
        cols = ORIGIN + STRIDE * np.arange(n)[None, :]
        logits = -((rows - target[0]) ** 2 + (cols - target[1]) ** 2) / (2.0 * 3.0**2)
        return {"logits": torch.from_numpy(logits[None].astype(np.float32))}


class DotDataset:
    """Satellite patches with one bright pixel where the camera is; the position is never handed out."""

    def __init__(self, n: int = 12, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.dots = rng.integers(12, SIZE - 12, size=(n, 2))

    def __len__(self):
        return len(self.dots)

    def __getitem__(self, k):
        sat = torch.zeros(3, SIZE, SIZE)
        sat[:, int(self.dots[k][0]), int(self.dots[k][1])] = 1.0
        return {"sat": sat}

    def load_panorama(self, k):
        return np.full((32, 64, 3), 100, np.uint8)


@pytest.mark.parametrize("bias", [(0.0, 0.0), (1.2, -2.5), (-3.0, 0.7)])
def test_calibration_recovers_a_constant_offset_without_labels(bias):
    loc = BiasedLocalizer(bias)
    out = calibrate_offset(loc, DotDataset(), max_samples=None, progress=False)
    # a Gaussian's log is a parabola, so the sub-cell refinement is exact and so is the recovered offset
    assert out["offset_rc_px"] == pytest.approx(list(bias), abs=1e-6)
    assert out["n_used"] == out["n_total"] == 12
    assert set(loc.seen_canvas_shapes) == {(1, 3, 16, 32)}  # the model's canvas, turned pairs included


def test_calibration_of_an_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match="empty"):
        calibrate_offset(BiasedLocalizer((0, 0)), DotDataset(n=0), progress=False)
