"""Coarse-to-fine variants on a :mod:`fine_dump` file: the shipped estimate, the fine map's peak within R m of
it, the fine map alone, and the fused map upsampled x4 plus W times the fine map. Prints mean / median / within
1 m per FoV. Written in session 12; findings measured in session 13 (docs/TRAINING_RESULTS.md, "Session 13").

Usage: python docs/probes/fine_analyse.py DUMP.npz [TEMPERATURE OFFSET_ROW OFFSET_COL]
(default: the shipped student's calibration)
"""

import sys

import numpy as np
import torch
import torch.nn.functional as F

from geodistill_ros.posterior import posterior_from_logits, refine_peak

MPP, SIZE, STRIDE = 0.2, 320, 4


def stats(err) -> str:
    err = np.asarray(err)
    return f"{err.mean():5.2f} / {np.median(err):4.2f} / {np.mean(err <= 1) * 100:4.1f}%"


def local_peak(fine: np.ndarray, row: float, col: float, radius_px: float) -> tuple[float, float]:
    """Peak of ``fine`` (pixel centres at i + 0.5) within ``radius_px`` of (row, col), parabola-refined."""
    h, w = fine.shape
    rr, cc = np.mgrid[0:h, 0:w] + 0.5
    window = (rr - row) ** 2 + (cc - col) ** 2 <= radius_px**2
    if not window.any():
        return row, col
    i, j = np.unravel_index(int(np.argmax(np.where(window, fine, -np.inf))), fine.shape)
    di, dj = refine_peak(fine, i, j)
    return i + 0.5 + di, j + 0.5 + dj


def main(argv) -> None:
    d = np.load(argv[0])
    temperature = float(argv[1]) if len(argv) > 1 else 0.053879305810413114
    offset = (float(argv[2]), float(argv[3])) if len(argv) > 3 else (0.06005671616734887, 0.014054495665554612)
    origin = (STRIDE / 2 - offset[0], STRIDE / 2 - offset[1])
    for fov in ("360", "180", "90"):
        logits, fine, gts = d[f"{fov}_logits"], d[f"{fov}_fine"].astype(np.float32), d[f"{fov}_gt"]
        up = F.interpolate(torch.from_numpy(logits)[:, None], scale_factor=STRIDE, mode="bilinear",
                           align_corners=False)[:, 0].numpy()
        rows: dict[str, list] = {"shipped estimate": []}
        for n, gt in enumerate(gts):
            p = posterior_from_logits(logits[n], temperature, origin, STRIDE, MPP, SIZE)
            rows["shipped estimate"].append(np.hypot(p.row_px - gt[0], p.col_px - gt[1]) * MPP)
            for radius_m in (0.5, 1.0, 2.0, 3.0):
                r, c = local_peak(fine[n], p.row_px, p.col_px, radius_m / MPP)
                rows.setdefault(f"fine peak within {radius_m} m", []).append(np.hypot(r - gt[0], c - gt[1]) * MPP)
            r, c = local_peak(fine[n], SIZE / 2, SIZE / 2, 1e9)
            rows.setdefault("fine map alone", []).append(np.hypot(r - gt[0], c - gt[1]) * MPP)
            for w in (0.0, 0.5, 1.0, 2.0):
                q = posterior_from_logits(up[n] + w * fine[n], temperature, 0.5, 1, MPP, SIZE)
                rows.setdefault(f"fused x4 + {w} fine", []).append(np.hypot(q.row_px - gt[0], q.col_px - gt[1]) * MPP)
        print(f"FoV {fov}")
        for name, err in rows.items():
            print(f"  {name:26s} {stats(err)}")


if __name__ == "__main__":
    main(sys.argv[1:])
