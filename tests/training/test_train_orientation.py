"""Orientation net: the polar views and the bin convention (bin k = correction -45 + k + 0.5 degrees)."""

import torch
import torch.nn.functional as F

from training.augment import crop_satellite, roll_canvas
from training.config import ModelConfig, OrientationConfig
from training.datasets.vigor import VigorDataset
from training.models.orientation import OrientationNet


def test_raw_polar_views_peak_at_applied_yaw_error(flat_root):
    ds = VigorDataset(flat_root, "train", sat_size_px=160, canvas_hw=(128, 256))
    net = OrientationNet(OrientationConfig(sat_size_px=96), ModelConfig(ground_height_px=128, ground_width_px=256))
    hits = 0
    for i in range(3):
        s = ds[i]
        sat_o = crop_satellite(s["sat"][None], s["gt_row_px"][None], s["gt_col_px"][None], 96)
        for delta, beta in ((10.5, 0.0), (-30.5, 40.0)):
            sat_r = crop_satellite(s["sat"][None], s["gt_row_px"][None], s["gt_col_px"][None], 96,
                                   rotation_deg=torch.tensor([beta])) if beta else sat_o
            shift = torch.tensor([delta - beta])
            g, m = roll_canvas(s["ground"][None], shift), roll_canvas(s["ground_mask"][None], shift)
            sat_p, g_p = net.polar_views(sat_r, g, m)
            fs = F.normalize(sat_p[:, :3] - sat_p[:, :3].mean(dim=(2, 3), keepdim=True), dim=1)
            fg = F.normalize(g_p[:, :3] - g_p[:, :3].mean(dim=(2, 3), keepdim=True), dim=1)
            # compare full polar images (radius kept) by flattening radius into channels
            fs = fs.flatten(1, 2)
            fg = fg.flatten(1, 2)
            scores = net.shift_scores(fs, fg, g_p[:, 3:].mean(dim=2))
            k = int(scores.argmax())
            hits += abs((-45 + k + 0.5) - delta) <= 1.0
    assert hits >= 5


def test_roll_canvas_sign():
    x = torch.zeros(1, 1, 2, 360)
    x[..., 100] = 1.0
    y = roll_canvas(x, torch.tensor([10.0]))
    assert int(y[0, 0, 0].argmax()) == 110
    z = roll_canvas(x, torch.tensor([0.5]))
    torch.testing.assert_close(z[0, 0, 0, 100:102], torch.tensor([0.5, 0.5]))


def test_forward_shapes():
    net = OrientationNet(OrientationConfig(sat_size_px=32, channels=(8, 8)),
                         ModelConfig(ground_height_px=32, ground_width_px=64))
    out = net(torch.rand(3, 3, 32, 32), torch.rand(3, 3, 32, 64), torch.ones(3, 1, 32, 64))
    assert out.shape == (3, 90)


def test_coarse_yaw_search_recovers_roll():
    from training.yaw_search import coarse_yaw_search

    torch.manual_seed(0)
    ref = torch.rand(1, 3, 8, 360)

    class Fake:
        def match(self, g, m, feats):
            score = -((g - ref) ** 2).mean(dim=(1, 2, 3))
            return {"logits": score[:, None, None].expand(-1, 2, 2)}

    misaligned = roll_canvas(ref, torch.tensor([60.0]))  # canvas aligned with a yaw 60 deg too small
    res = coarse_yaw_search(Fake(), misaligned, torch.ones(1, 1, 8, 360), [torch.zeros(1, 1, 2, 2)], step_deg=30.0)
    assert abs(res["yaw_correction_deg"] - 60.0) < 5.0


def test_canvas_mismatch_names_the_first_differing_field():
    from training.models import canvas_mismatch
    loc = {"meters_per_pixel": 0.2, "ground_height_px": 128, "ground_width_px": 256, "camera_height_m": 2.0}
    assert canvas_mismatch(loc, dict(loc)) is None
    assert canvas_mismatch(loc, {"ground_width_px": 256}) is None  # missing keys are not compared
    assert "camera_height_m = 1.5, the localizer 2.0" in canvas_mismatch(loc, {**loc, "camera_height_m": 1.5})
    assert "ground_height_px = 256" in canvas_mismatch(loc, {**loc, "ground_height_px": 256, "ground_width_px": 512})


def test_orientation_meta_carries_its_camera_height(tiny, tmp_path):
    from training.models import build_orientation, model_meta
    cfg = tiny(tmp_path)
    meta = model_meta(build_orientation(cfg.orientation, cfg.model))
    assert meta["camera_height_m"] == cfg.model.camera_height_m
    hw = (cfg.model.ground_height_px, cfg.model.ground_width_px)
    assert (meta["ground_height_px"], meta["ground_width_px"]) == hw
