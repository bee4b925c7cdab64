"""Evaluation of a localizer (and optionally the orientation net) on VIGOR-layout data, per query FoV.

Position: the posterior of ``geodistill_ros.posterior.posterior_from_logits`` (estimate + covariance).
Yaw (when an orientation net is given): each query's canvas is misaligned by a random yaw error within the
net's range, the orientation patch is centred on the position estimate, and the error is
``|predicted correction - applied error|``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.optimize import minimize_scalar
from tqdm import tqdm

from geodistill_ros.posterior import (
    CHI2_2DOF_95,
    gaussian_nll_2d,
    mahalanobis2,
    parabola_offset,
    posterior_from_logits,
    prob_origin_rc,
)
from training.augment import crop_satellite, roll_canvas
from training.losses import bin_to_yaw
from training.queries import make_query, query_tensors, spread_indices

METRIC_KEYS = ("mean_m", "median_m", "recall_1m", "recall_3m", "recall_5m", "yaw_mean_deg", "yaw_median_deg",
               "in_1sigma", "in_95_ellipse", "nll", "n")


@torch.no_grad()
def collect(localizer, dataset, fovs, orientation=None, max_samples: int | None = None, seed: int = 0,
            progress: bool = True, keep_maps: int = 4, meta: dict | None = None) -> dict:
    """Run every sample at every FoV. Returns per-FoV lists: logits, gt (row, col), yaw errors, city, a few maps.

    ``meta`` (checkpoint metadata): its ``position_offset_rc_px`` places the orientation patch; default none.
    """
    localizer.eval()
    origin_rc = prob_origin_rc({"prob_origin_px": localizer.prob_origin_px, **(meta or {})})
    hw = (localizer.cfg.ground_height_px, localizer.cfg.ground_width_px)
    rng = np.random.default_rng(seed)
    out = {str(int(f)): {"logits": [], "gt": [], "yaw_err": [], "city": [], "examples": []} for f in fovs}
    cities = getattr(dataset, "city_names", None)
    city_ids = getattr(dataset, "city_ids", None)
    idx = spread_indices(len(dataset), max_samples)
    for k in tqdm(idx, disable=not progress, desc="eval", dynamic_ncols=True):
        sample = dataset[int(k)]
        pano = dataset.load_panorama(int(k))
        sat = sample["sat"][None]
        feats = localizer.encode_satellite(sat)
        gt = (float(sample["gt_row_px"]), float(sample["gt_col_px"]))
        city = str(cities[city_ids[k]]) if cities is not None and city_ids is not None else "all"
        heading = rng.uniform(-math.pi, math.pi)
        delta = rng.uniform(-1.0, 1.0)
        for f in fovs:
            key = str(int(f))
            canvas, mask = make_query(pano, float(f), heading, hw)
            g, m = query_tensors(canvas, mask)
            logits = localizer.match(g, m, feats, fft=True)["logits"][0].numpy()
            out[key]["logits"].append(logits)
            out[key]["gt"].append(gt)
            out[key]["city"].append(city)
            if len(out[key]["examples"]) < keep_maps:
                out[key]["examples"].append({"sat": sample["sat"].numpy(), "logits": logits, "gt": gt,
                                             "canvas": canvas, "mask": mask})
            if orientation is not None:
                out[key]["yaw_err"].append(_yaw_error(orientation, localizer, logits, sat, g, m,
                                                      delta * orientation.cfg.range_deg, origin_rc))
    return out


def _yaw_error(orientation, localizer, logits, sat, g, m, delta_deg: float, origin_rc) -> float:
    post = posterior_from_logits(logits, localizer.temperature, origin_rc, localizer.prob_stride_px,
                                 localizer.cfg.meters_per_pixel, sat.shape[-1])
    sat_o = crop_satellite(sat, torch.tensor([post.row_px]), torch.tensor([post.col_px]),
                           orientation.cfg.sat_size_px)
    d = torch.tensor([delta_deg], dtype=torch.float32)
    yaw_logits = orientation(sat_o, roll_canvas(g, d), roll_canvas(m, d))[0].numpy()
    return abs(yaw_from_logits(yaw_logits, orientation.cfg.range_deg) - delta_deg)


def yaw_from_logits(yaw_logits: np.ndarray, range_deg: float) -> float:
    """Bin centre of the best bin, refined by a parabola through its neighbours (degrees)."""
    bins = yaw_logits.shape[-1]
    k = int(np.argmax(yaw_logits))
    dk = 0.0
    if 0 < k < bins - 1:
        dk = parabola_offset(yaw_logits[k - 1], yaw_logits[k], yaw_logits[k + 1], flat_tol=0.0)
    return bin_to_yaw(k + dk, bins, range_deg)


def posteriors(logits_list, gt_list, temperature: float, localizer_meta: dict):
    errs, covs, dists = [], [], []
    for logits, (r, c) in zip(logits_list, gt_list):
        p = posterior_from_logits(logits, temperature, prob_origin_rc(localizer_meta),
                                  localizer_meta["prob_stride_px"], localizer_meta["meters_per_pixel"],
                                  localizer_meta["sat_size_px"])
        mpp = localizer_meta["meters_per_pixel"]
        err = np.array([(p.col_px - c) * mpp, -(p.row_px - r) * mpp])  # east, north
        errs.append(err)
        covs.append(p.cov_en_m2)
        dists.append(float(np.hypot(*err)))
    return np.array(errs), np.array(covs), np.array(dists)


def fit_temperature(logits_list, gt_list, localizer_meta: dict, bounds=(0.005, 2.0)) -> float:
    """Posterior temperature minimising the mean Gaussian NLL of the errors under the implied covariances."""

    def objective(log_t: float) -> float:
        errs, covs, _ = posteriors(logits_list, gt_list, math.exp(log_t), localizer_meta)
        return float(np.mean(gaussian_nll_2d(errs, covs)))

    res = minimize_scalar(objective, bounds=(math.log(bounds[0]), math.log(bounds[1])), method="bounded",
                          options={"xatol": 0.02})
    return float(math.exp(res.x))


def metrics(logits_list, gt_list, yaw_err, temperature: float, localizer_meta: dict) -> dict:
    errs, covs, dists = posteriors(logits_list, gt_list, temperature, localizer_meta)
    m2 = mahalanobis2(errs, covs)
    yaw = np.asarray(yaw_err, dtype=np.float64)
    return {
        "mean_m": float(dists.mean()),
        "median_m": float(np.median(dists)),
        "recall_1m": float(np.mean(dists <= 1.0)),
        "recall_3m": float(np.mean(dists <= 3.0)),
        "recall_5m": float(np.mean(dists <= 5.0)),
        "yaw_mean_deg": float(yaw.mean()) if yaw.size else None,
        "yaw_median_deg": float(np.median(yaw)) if yaw.size else None,
        "in_1sigma": float(np.mean(m2 <= 1.0)),
        "in_95_ellipse": float(np.mean(m2 <= CHI2_2DOF_95)),
        "nll": float(np.mean(gaussian_nll_2d(errs, covs))),
        "n": int(len(dists)),
    }


def metrics_by_city(collected: dict, temperature: float, localizer_meta: dict) -> dict:
    """:func:`metrics` of each city (world) on its own: ``{city: {fov: {...}}}``, cities sorted."""
    out: dict = {}
    for fov, d in collected.items():
        cities = np.asarray(d["city"])
        for city in sorted(set(d["city"])):
            keep = np.flatnonzero(cities == city)
            yaw = [d["yaw_err"][i] for i in keep] if d["yaw_err"] else []
            out.setdefault(city, {})[fov] = metrics([d["logits"][i] for i in keep], [d["gt"][i] for i in keep], yaw,
                                                    temperature, localizer_meta)
    return {c: out[c] for c in sorted(out)}


def plot_results(collected: dict, temperature: float, localizer_meta: dict, out_prefix) -> list[str]:
    """Error CDFs per FoV and probability-map overlays of a few samples; returns the files written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    files = []
    fig, ax = plt.subplots(figsize=(5, 4))
    for fov, d in collected.items():
        _, _, dists = posteriors(d["logits"], d["gt"], temperature, localizer_meta)
        xs = np.sort(dists)
        ax.plot(xs, np.arange(1, len(xs) + 1) / len(xs), label=f"FoV {fov} deg")
    ax.set_xlim(0, 10)
    ax.set_xlabel("position error (m)")
    ax.set_ylabel("fraction of queries")
    ax.grid(alpha=0.3)
    ax.legend()
    path = f"{out_prefix}_error_cdf.png"
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    files.append(path)
    fovs = list(collected)
    n_ex = min(len(collected[f]["examples"]) for f in fovs)
    if n_ex:
        fig, axes = plt.subplots(len(fovs), n_ex, figsize=(3 * n_ex, 3 * len(fovs)), squeeze=False)
        for a, fov in enumerate(fovs):
            for b, ex in enumerate(collected[fov]["examples"][:n_ex]):
                p = posterior_from_logits(ex["logits"], temperature, prob_origin_rc(localizer_meta),
                                          localizer_meta["prob_stride_px"], localizer_meta["meters_per_pixel"],
                                          localizer_meta["sat_size_px"])
                s = ex["sat"].shape[-1]
                ax = axes[a, b]
                ax.imshow(ex["sat"].transpose(1, 2, 0))
                (o_r, o_c), st = prob_origin_rc(localizer_meta), localizer_meta["prob_stride_px"]
                hp, wp = p.prob.shape
                ext = (o_c - st / 2, o_c + st * (wp - 0.5), o_r + st * (hp - 0.5), o_r - st / 2)
                ax.imshow(p.prob / p.prob.max(), extent=ext, alpha=0.5, cmap="magma")
                ax.plot(ex["gt"][1], ex["gt"][0], "g+", ms=12, mew=2)
                ax.plot(p.col_px, p.row_px, "cx", ms=10, mew=2)
                ax.set_xlim(0, s)
                ax.set_ylim(s, 0)
                err_m = math.hypot(p.row_px - ex["gt"][0], p.col_px - ex["gt"][1]) * localizer_meta["meters_per_pixel"]
                ax.set_title(f"FoV {fov}: err {err_m:.2f} m", fontsize=8)
                ax.axis("off")
        path = f"{out_prefix}_prob_maps.png"
        fig.tight_layout()
        fig.savefig(path, dpi=80)
        plt.close(fig)
        files.append(path)
    return files
