"""Ground-to-aerial projection: known ground points land in the right BEV cell; flat-world consistency."""

import numpy as np
import torch

from geodistill_ros import geometry
from training.models.projection import bev_offsets_px, polar_grid, project_to_bev, template_cells


def test_template_cells_is_odd_and_near_fraction():
    assert template_cells(320, 8, 0.4) == 17
    assert template_cells(320, 4, 0.4) == 33
    assert template_cells(320, 4, 0.4) % 2 == 1


def test_bev_offsets_centred():
    off = bev_offsets_px(5, 4.0)
    np.testing.assert_allclose(off, [-8, -4, 0, 4, 8])


def test_painted_ground_point_lands_in_its_cell():
    hf, wf, k, stride, mpp, h = 256, 512, 17, 8, 0.2, 2.0
    grid = torch.from_numpy(polar_grid(k, stride, mpp, h, (hf, wf)))
    # ground point 4 cells east and 3 cells north of the camera
    east_m, north_m = 4 * stride * mpp, 3 * stride * mpp
    u, v = geometry.ground_point_to_panorama_uv(east_m, north_m, h, wf, hf)
    yy, xx = np.meshgrid(np.arange(hf) + 0.5, np.arange(wf) + 0.5, indexing="ij")
    blob = np.exp(-((yy - v) ** 2 + (xx - u) ** 2) / (2 * 1.5**2))
    bev = project_to_bev(torch.from_numpy(blob).float()[None, None], grid)[0, 0]
    r, c = np.unravel_index(int(bev.argmax()), bev.shape)
    assert (r, c) == (k // 2 - 3, k // 2 + 4)  # rows grow south, columns east
    assert float(bev[r, c]) > 0.9


def test_grid_known_value():
    hf, wf, k, stride = 64, 128, 9, 4
    grid = polar_grid(k, stride, 0.25, 2.0, (hf, wf), wrap_pad=1)
    # the cell 2 east of the camera: 2 m east -> azimuth 90 deg (u = 3W/4), zenith 135 deg (v = 3H/4)
    x, y = grid[0, k // 2, k // 2 + 2]
    assert abs((x + 1) / 2 * (wf + 2) - 1 - 0.75 * wf) < 1e-4
    assert abs((y + 1) / 2 * hf - 0.75 * hf) < 1e-4


def test_north_is_canvas_centre_column():
    hf, wf, k = 32, 64, 9
    grid = polar_grid(k, 8, 0.2, 2.0, (hf, wf), wrap_pad=1)
    # a cell straight north of the camera samples the centre column (u = W/2)
    x = grid[0, 0, k // 2, 0]
    u = (x + 1) / 2 * (wf + 2) - 1
    assert abs(u - wf / 2) < 1e-4


def test_flat_world_bev_matches_satellite(tmp_path):
    from training.config import ModelConfig
    from training.datasets.flatworld import write_flat_world_dataset
    from training.datasets.vigor import VigorDataset

    write_flat_world_dataset(tmp_path, n_panoramas=3, n_test=1, world_size_px=512, sat_size_px=160)
    cfg = ModelConfig(sat_size_px=160, ground_height_px=128, ground_width_px=256)
    ds = VigorDataset(tmp_path, "train", sat_size_px=160, canvas_hw=(128, 256))
    s = ds[0]
    k, stride = 33, 2
    grid = torch.from_numpy(polar_grid(k, stride, cfg.meters_per_pixel, cfg.camera_height_m, (128, 256)))
    bev = project_to_bev(s["ground"][None], grid)[0]
    r0, c0 = float(s["gt_row_px"]), float(s["gt_col_px"])
    off = bev_offsets_px(k, stride)
    rows = torch.tensor(r0 + off, dtype=torch.float32)
    cols = torch.tensor(c0 + off, dtype=torch.float32)
    gy = (2 * rows / 160 - 1)[:, None].expand(k, k)
    gx = (2 * cols / 160 - 1)[None, :].expand(k, k)
    sat = torch.nn.functional.grid_sample(s["sat"][None], torch.stack([gx, gy], -1)[None], align_corners=False)[0]
    err_true = (bev - sat).abs().mean()
    shifted = torch.roll(sat, shifts=(3, 3), dims=(1, 2))
    assert err_true < 0.08
    assert err_true < 0.6 * (bev - shifted).abs().mean()


def test_scene_rotation_keeps_bev_consistent(tmp_path):
    from training.augment import rotate_scene_90
    from training.datasets.flatworld import write_flat_world_dataset
    from training.datasets.vigor import VigorDataset

    write_flat_world_dataset(tmp_path, n_panoramas=2, n_test=1, world_size_px=512, sat_size_px=160)
    s = VigorDataset(tmp_path, "train", sat_size_px=160, canvas_hw=(128, 256))[0]
    k, stride = 33, 2
    grid = torch.from_numpy(polar_grid(k, stride, 0.2, 2.0, (128, 256)))
    off = bev_offsets_px(k, stride)
    for q in range(4):
        sat, g, _ = rotate_scene_90(s["sat"][None], s["ground"][None], s["ground_mask"][None], q)
        r0, c0 = float(s["gt_row_px"]), float(s["gt_col_px"])
        for _ in range(q):  # camera position under a CCW quarter turn of a 160-px image
            r0, c0 = 160 - c0, r0
        bev = project_to_bev(g, grid)[0]
        gy = (2 * torch.tensor(r0 + off, dtype=torch.float32) / 160 - 1)[:, None].expand(k, k)
        gx = (2 * torch.tensor(c0 + off, dtype=torch.float32) / 160 - 1)[None, :].expand(k, k)
        ref = torch.nn.functional.grid_sample(sat, torch.stack([gx, gy], -1)[None], align_corners=False)[0]
        assert (bev - ref).abs().mean() < 0.08, q
