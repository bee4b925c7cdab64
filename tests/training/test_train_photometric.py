"""Photometric augmentation (mild / strong) and the instance input normalization of the localizer."""

import numpy as np
import pytest
import torch

from training.datasets.photometric import augment_pair, color_jitter, style_jitter
from training.models.input_norm import normalize_image
from training.models.localizer import Localizer


def _scene(seed=0, hw=(24, 32)):
    return np.random.default_rng(seed).uniform(0.2, 0.8, size=(*hw, 3)).astype(np.float32)


def test_mild_mode_is_the_old_colour_jitter_applied_to_both_views():
    g, s = _scene(0), _scene(1)
    out_g, out_s = augment_pair(g, s, np.random.default_rng(7), "mild")
    rng = np.random.default_rng(7)
    np.testing.assert_array_equal(out_g, color_jitter(g, rng))
    np.testing.assert_array_equal(out_s, color_jitter(s, rng))


def test_strong_mode_changes_colours_widely_and_independently_per_view():
    g = s = _scene(0)
    means_g, means_s, diffs = [], [], []
    for i in range(200):
        out_g, out_s = augment_pair(g, s, np.random.default_rng(i), "strong")
        assert out_g.dtype == np.float32 and out_g.shape == g.shape
        assert out_g.min() >= 0.0 and out_g.max() <= 1.0
        means_g.append(out_g.mean(axis=(0, 1)))
        means_s.append(out_s.mean(axis=(0, 1)))
        diffs.append(np.abs(out_g - out_s).mean())
    # the channel means spread far more than mild jitter's +-15 % gain would move them
    assert np.std(np.array(means_g)[:, 0]) > 0.08
    # the same image in both views comes out differently (independent draws) in nearly every pair
    assert np.mean(np.array(diffs) > 0.02) > 0.9
    with pytest.raises(ValueError, match="unknown augmentation mode"):
        augment_pair(g, s, np.random.default_rng(0), "wild")


def test_strong_mode_keeps_structure_and_shares_the_channel_order():
    # a red square on black: its edges survive any colour draw, and a permutation moves red to one channel
    img = np.zeros((20, 20, 3), np.float32)
    img[5:15, 5:15, 0] = 0.9
    for i in range(50):
        rng = np.random.default_rng(i)
        out = style_jitter(img, rng, channel_order=np.array([2, 0, 1]), p_grey=0.0)
        inside, outside = out[5:15, 5:15].mean(), np.concatenate([out[:5].ravel(), out[15:].ravel()]).mean()
        assert inside > outside + 0.05
        # after the permutation the square lives in channel 1 (source channel 0), so it is the brightest there
        assert out[10, 10].argmax() == 1 or out[10, 10].std() < 0.05


def test_fixed_norm_is_the_constant_standardization():
    img = torch.rand(2, 3, 8, 8)
    mask = (torch.rand(2, 1, 8, 8) > 0.5).float()
    torch.testing.assert_close(normalize_image(img, None, "fixed"), (img - 0.45) / 0.25)
    torch.testing.assert_close(normalize_image(img, mask, "fixed"), (img - 0.45) / 0.25 * mask)


def test_imagenet_norm_uses_the_per_channel_statistics_pretrained_backbones_expect():
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1).expand(1, 3, 4, 4)
    torch.testing.assert_close(normalize_image(mean, None, "imagenet"), torch.zeros(1, 3, 4, 4))
    one_sd = mean + torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    mask = torch.zeros(1, 1, 4, 4)
    mask[..., :2] = 1.0
    torch.testing.assert_close(normalize_image(one_sd, mask, "imagenet"), mask.expand(1, 3, 4, 4))


def test_instance_norm_removes_a_colour_cast_and_ignores_masked_pixels():
    img = torch.rand(2, 3, 16, 16) * 0.5 + 0.2
    gain, bias = torch.tensor([1.3, 0.8, 1.1]), torch.tensor([0.05, -0.1, 0.0])
    cast = img * gain[None, :, None, None] + bias[None, :, None, None]
    a, b = normalize_image(img, None, "instance"), normalize_image(cast, None, "instance")
    # approximate only because of the std floor (about 1.5 % of the values here); fixed norm moves far more
    assert (a - b).abs().max() < 0.03
    assert (normalize_image(img, None, "fixed") - normalize_image(cast, None, "fixed")).abs().max() > 0.3
    assert a.mean(dim=(2, 3)).abs().max() < 1e-5
    # masked: statistics over the visible pixels only; what hides behind the mask does not matter
    mask = torch.zeros(2, 1, 16, 16)
    mask[..., :, :8] = 1.0
    other = img.clone()
    other[..., 8:] = 1.0
    m1, m2 = normalize_image(img, mask, "instance"), normalize_image(other, mask, "instance")
    torch.testing.assert_close(m1, m2)
    assert torch.all(m1[..., 8:] == 0)
    visible = m1[..., :8]
    assert visible.mean(dim=(2, 3)).abs().max() < 1e-5
    # a flat image stays flat instead of turning noise into signal
    flat = normalize_image(torch.full((1, 3, 8, 8), 0.5) + 1e-4 * torch.randn(1, 3, 8, 8), None, "instance")
    assert flat.abs().max() < 0.05


def test_localizer_instance_norm_is_invariant_to_a_satellite_colour_cast(tiny, flat_root):
    cfg = tiny(flat_root, model={"input_norm": "instance"}).model
    loc = Localizer(cfg).eval()
    sat = torch.rand(1, 3, 64, 64) * 0.6 + 0.2
    with torch.no_grad():
        f1 = loc.encode_satellite(sat)
        f2 = loc.encode_satellite(sat * 1.2 - 0.05)
    for x, y in zip(f1, f2):
        torch.testing.assert_close(x, y, atol=1e-3, rtol=1e-3)
    cfg_bad = tiny(flat_root, model={"input_norm": "batch"}).model
    with pytest.raises(ValueError, match="input_norm"):
        Localizer(cfg_bad)
