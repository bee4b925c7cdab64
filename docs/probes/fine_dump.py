"""Dump, per test query, a localizer's fused logits and a fine raw-pixel ZNCC map at stride 1 (0.2 m), for
:mod:`fine_analyse`. The fine map comes from the query rendered on a ``FINE_H`` x ``FINE_W`` canvas (default
256 x 512) with a template of ``FINE_FRAC`` (default 0.5) of the patch width. Test panoramas are levelled by their
recorded attitude; the model runs with the shipped photometric level (0.5, 4 px, template 0.5). Same heading
draws as ``geodistill eval --seed 0``.
Written in session 12; findings measured in session 13 (docs/TRAINING_RESULTS.md, "Session 13").

Usage: python docs/probes/fine_dump.py CKPT DATA OUT.npz
"""

import math
import os
import sys
from dataclasses import replace

import numpy as np
import torch
from tqdm import tqdm

from training.datasets.vigor import VigorDataset
from training.models import load_checkpoint, with_photometric
from training.models.localizer import Localizer
from training.queries import make_query, query_tensors

FINE_HW = (int(os.environ.get("FINE_H", "256")), int(os.environ.get("FINE_W", "512")))
FINE_FRAC = float(os.environ.get("FINE_FRAC", "0.5"))
FOVS = (360.0, 180.0, 90.0)


def main(ckpt: str, root: str, out: str) -> None:
    torch.set_num_threads(1)
    loc = with_photometric(load_checkpoint(ckpt)["localizer"], photometric_weight=0.5, photometric_stride=4,
                           photometric_template_fraction=0.5).eval()
    cfg = loc.cfg
    fine = Localizer(replace(cfg, ground_height_px=FINE_HW[0], ground_width_px=FINE_HW[1], photometric_weight=1.0,
                             photometric_stride=1, photometric_template_fraction=FINE_FRAC)).eval()
    ds = VigorDataset(root, split="test", sat_size_px=cfg.sat_size_px, meters_per_pixel=cfg.meters_per_pixel,
                      canvas_hw=(cfg.ground_height_px, cfg.ground_width_px), level_attitude=True)
    rng = np.random.default_rng(0)
    res = {f"{int(f)}_{k}": [] for f in FOVS for k in ("logits", "fine", "gt")}
    city = []
    with torch.no_grad():
        for k in tqdm(range(len(ds)), dynamic_ncols=True):
            sample, pano = ds[k], ds.load_panorama(k)
            sat = sample["sat"][None]
            feats = loc.encode_satellite(sat)
            heading = rng.uniform(-math.pi, math.pi)
            rng.uniform(-1.0, 1.0)  # the yaw draw of training.evaluate.collect
            city.append(str(ds.city_names[ds.city_ids[k]]))
            for f in FOVS:
                g, m = query_tensors(*make_query(pano, f, heading, (cfg.ground_height_px, cfg.ground_width_px)))
                g2, m2 = query_tensors(*make_query(pano, f, heading, FINE_HW))
                res[f"{int(f)}_logits"].append(loc.match(g, m, feats, fft=True)["logits"][0].numpy())
                res[f"{int(f)}_fine"].append(fine.correlate_photometric(g2, m2, sat, fft=True)[0].numpy()
                                             .astype(np.float16))
                res[f"{int(f)}_gt"].append((float(sample["gt_row_px"]), float(sample["gt_col_px"])))
    np.savez_compressed(out, city=np.array(city), **{k: np.array(v) for k, v in res.items()})
    print("wrote", out)


if __name__ == "__main__":
    main(*sys.argv[1:4])
