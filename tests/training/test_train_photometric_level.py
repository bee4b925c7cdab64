"""The photometric level: zero-mean NCC of raw pixels (known values) and its place in the localizer's fused map."""

import pytest
import torch

from training.config import ModelConfig
from training.models import model_meta, with_photometric
from training.models.correlation import zncc_positive
from training.models.localizer import Localizer


def _window(sat, r, c, k):
    h = k // 2
    return sat[:, :, r - h: r + h + 1, c - h: c + h + 1].clone()


def test_zncc_finds_a_copy_with_another_gain_and_offset_per_channel():
    torch.manual_seed(0)
    sat = torch.rand(2, 3, 30, 30)
    k = 9
    t = torch.cat([_window(sat[:1], 9, 19, k), _window(sat[1:], 20, 8, k)])
    t = t * torch.tensor([0.5, 2.0, 1.3]).view(1, 3, 1, 1) + torch.tensor([0.3, -0.2, 0.1]).view(1, 3, 1, 1)
    maps = zncc_positive(sat, t, torch.ones(2, 1, k, k))
    assert maps.shape == (2, 30, 30)
    for b, (r, c) in enumerate([(9, 19), (20, 8)]):
        assert divmod(int(maps[b].argmax()), 30) == (r, c)
        assert float(maps[b, r, c]) == pytest.approx(1.0, abs=1e-4)
    assert float(maps.max()) <= 1.0 + 1e-4 and float(maps.min()) >= -1.0 - 1e-4


def test_zncc_negated_copy_scores_minus_one_and_masked_pixels_do_not_count():
    torch.manual_seed(1)
    sat = torch.rand(1, 3, 24, 24)
    k = 7
    t = 1.0 - _window(sat, 12, 11, k)
    assert float(zncc_positive(sat, t, torch.ones(1, 1, k, k))[0, 12, 11]) == pytest.approx(-1.0, abs=1e-4)
    t = _window(sat, 12, 11, k)
    t[..., :, :3] = torch.rand(1, 3, k, 3) * 9.0  # corrupt the left columns ...
    mask = torch.ones(1, 1, k, k)
    mask[..., :, :3] = 0.0  # ... and mask them out: a perfect match again
    assert float(zncc_positive(sat, t, mask)[0, 12, 11]) == pytest.approx(1.0, abs=1e-4)


def test_zncc_fft_equals_conv():
    torch.manual_seed(2)
    sat = torch.rand(2, 3, 20, 26)
    t = torch.rand(2, 3, 9, 9)
    mask = (torch.rand(2, 1, 9, 9) > 0.4).float()
    torch.testing.assert_close(zncc_positive(sat, t, mask, fft=True), zncc_positive(sat, t, mask), atol=1e-4,
                               rtol=1e-3)


def _tiny_cfg(**kw):
    return ModelConfig(sat_size_px=64, meters_per_pixel=0.4, ground_height_px=32, ground_width_px=64,
                       sat_channels=(8, 8, 8, 8), ground_channels=(8, 8, 8), feature_dim=(8, 8), **kw)


def _inputs(seed=3):
    g = torch.Generator().manual_seed(seed)
    mask = torch.ones(2, 1, 32, 64)
    mask[1, :, :, 40:] = 0.0  # a limited field of view
    return torch.rand(2, 3, 64, 64, generator=g), torch.rand(2, 3, 32, 64, generator=g), mask


def test_fused_map_adds_the_weighted_photometric_map_and_losses_see_only_learned_levels():
    torch.manual_seed(0)
    base = Localizer(_tiny_cfg()).eval()
    on = with_photometric(base, photometric_weight=0.7)
    sat, ground, mask = _inputs()
    with torch.no_grad():
        f_base, f_on = base.encode_satellite(sat), on.encode_satellite(sat)
        assert len(f_on) == on.n_sat_maps == len(f_base) + 1 == 3
        assert f_on[-1].shape == (2, 3, 32, 32)  # raw RGB at stride 2
        for a, b in zip(f_base, f_on):
            torch.testing.assert_close(a, b)
        assert len(on.correlate(ground, mask, f_on)) == 2  # the losses' maps: learned levels only
        photo = on.correlate_photometric(ground, mask, f_on[-1])
        assert photo.shape == (2, 32, 32)
        pooled = torch.nn.functional.avg_pool2d(photo[:, None], 2)[:, 0]  # stride 2 -> the stride-4 grid
        want = base.match(ground, mask, f_base)["logits"] + 0.7 * pooled
        torch.testing.assert_close(on.match(ground, mask, f_on)["logits"], want, atol=1e-5, rtol=1e-4)
        torch.testing.assert_close(on.match(ground, mask, f_on, fft=True)["logits"], want, atol=1e-4, rtol=1e-3)
        off = with_photometric(on, photometric_weight=0.0)
        assert off.n_sat_maps == 2
        torch.testing.assert_close(off.match(ground, mask, off.encode_satellite(sat))["logits"],
                                   base.match(ground, mask, f_base)["logits"])
    with pytest.raises(ValueError, match="expected 3 satellite maps"):
        on.match(ground, mask, f_base)


def test_meta_and_bad_settings():
    loc = with_photometric(Localizer(_tiny_cfg()), photometric_weight=1.5, photometric_stride=4)
    meta = model_meta(loc)
    assert meta["levels"] == 3 and meta["level_strides"] == [8, 4]
    assert meta["photometric"] == {"weight": 1.5, "stride_px": 4, "template_fraction": 0.4}
    assert model_meta(Localizer(_tiny_cfg()))["photometric"] is None
    with pytest.raises(ValueError, match="not a photometric field: sat_size_px"):
        with_photometric(loc, sat_size_px=32)
    with pytest.raises(ValueError, match="must divide the finest level stride"):
        Localizer(_tiny_cfg(photometric_weight=1.0, photometric_stride=3))
    with pytest.raises(ValueError, match="photometric_weight must be >= 0"):
        Localizer(_tiny_cfg(photometric_weight=-1.0))


def test_teacher_photometric_target_adds_the_weighted_raw_pixel_map_to_every_level():
    from training.objectives import with_photometric_target

    torch.manual_seed(4)
    teacher = Localizer(_tiny_cfg(photometric_weight=1.0, photometric_stride=4)).eval()
    sat, ground, mask = _inputs(5)
    with torch.no_grad():
        maps = teacher.correlate(ground, mask, teacher.encode_satellite(sat), fft=True)
        out = with_photometric_target(teacher, maps, sat, ground, mask, 0.5)
        photo = teacher.correlate_photometric(ground, mask, teacher.encode_satellite(sat)[-1])
    assert [m.shape for m in out] == [m.shape for m in maps] == [(2, 8, 8), (2, 16, 16)]
    torch.testing.assert_close(out[1], maps[1] + 0.5 * photo, atol=1e-4, rtol=1e-3)  # same stride-4 grid
    coarse = torch.nn.functional.avg_pool2d(photo[:, None], 2)[:, 0]  # stride 8: the 2x2 block means
    torch.testing.assert_close(out[0], maps[0] + 0.5 * coarse, atol=1e-4, rtol=1e-3)
    with pytest.raises(ValueError, match="needs the model's photometric level"):
        with_photometric_target(Localizer(_tiny_cfg()), maps, sat, ground, mask, 0.5)
