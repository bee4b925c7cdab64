"""Torch models and checkpoint loading (API in docs/ARCHITECTURE.md, "Torch models")."""

from __future__ import annotations

import math
from pathlib import Path

import torch

from training.config import ModelConfig, OrientationConfig, model_config_from_dict, orientation_config_from_dict
from training.models import dinov2
from training.models.localizer import Localizer
from training.models.orientation import OrientationNet

__all__ = ["CANVAS_KEYS", "Localizer", "OrientationNet", "build_localizer", "build_orientation", "canvas_mismatch",
           "load_checkpoint", "with_photometric"]


def build_localizer(cfg: ModelConfig) -> Localizer:
    """A new localizer for training; with ``backbone: dinov2`` its ViT is loaded from ``cfg.dinov2_weights``
    (a local file; a training checkpoint then carries the weights, so ``load_checkpoint`` needs no file)."""
    model = Localizer(cfg)
    if cfg.backbone == "dinov2":
        dinov2.load_weights(model.vit, cfg.dinov2_weights)
    return model


def build_orientation(cfg: OrientationConfig, model_cfg: ModelConfig) -> OrientationNet:
    return OrientationNet(cfg, model_cfg)


def load_checkpoint(path: str | Path, map_location: str = "cpu") -> dict:
    """Load a checkpoint written by the training engine.

    Returns ``{"localizer": nn.Module}`` or ``{"orientation": nn.Module}`` (in eval mode) plus ``"config"``
    (the full training config dict) and ``"meta"`` (stage, step, metrics, model metadata).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    ckpt = torch.load(path, map_location=map_location, weights_only=False)
    if not isinstance(ckpt, dict) or "model_args" not in ckpt or "state_dict" not in ckpt:
        raise ValueError(f"{path} is not a geodistill training checkpoint")
    args = ckpt["model_args"]
    model_cfg = model_config_from_dict(args["model"])
    meta = {k: ckpt.get(k) for k in ("stage", "step", "metrics", "config_hash", "posterior_temperature",
                                     "position_offset_rc_px")}
    if args["kind"] == "localizer":
        model = Localizer(model_cfg)
        key = "localizer"
    elif args["kind"] == "orientation":
        model = OrientationNet(orientation_config_from_dict(args["orientation"]), model_cfg)
        key = "orientation"
    else:
        raise ValueError(f"unknown model kind {args['kind']!r} in {path}")
    model.load_state_dict(ckpt["state_dict"])
    model.eval()
    meta.update(model_meta(model))
    return {key: model, "config": ckpt.get("config", {}), "meta": meta}


def with_photometric(localizer: Localizer, **fields) -> Localizer:
    """The same trained localizer with its photometric level's config fields changed (``photometric_weight``,
    ``photometric_stride``, ``photometric_template_fraction``; a weight of 0 turns the level off).

    The level has no parameters, so a model trained without it can use it; a new module is returned (same
    weights, same train/eval mode) and ``localizer`` is left as it was.
    """
    unknown = set(fields) - {"photometric_weight", "photometric_stride", "photometric_template_fraction"}
    if unknown:
        raise ValueError(f"not a photometric field: {', '.join(sorted(unknown))}")
    out = Localizer(model_config_from_dict(localizer.cfg.__dict__ | fields))
    out.load_state_dict(localizer.state_dict())
    return out.train(localizer.training)


def model_meta(model) -> dict:
    """The model.json fields that come from the torch model."""
    if isinstance(model, Localizer):
        c = model.cfg
        return {"sat_size_px": c.sat_size_px, "meters_per_pixel": c.meters_per_pixel,
                "ground_height_px": c.ground_height_px, "ground_width_px": c.ground_width_px,
                "camera_height_m": c.camera_height_m, "prob_stride_px": model.prob_stride_px,
                "prob_origin_px": model.prob_origin_px, "temperature": model.temperature,
                "levels": model.n_sat_maps, "level_strides": list(model.strides),
                "photometric": {"weight": float(c.photometric_weight), "stride_px": int(c.photometric_stride),
                                "template_fraction": float(c.photometric_template_fraction)}
                if model.photometric else None}
    if isinstance(model, OrientationNet):
        c = model.cfg
        return {"orientation": {"bins": c.bins, "range_deg": c.range_deg, "sat_size_px": c.sat_size_px},
                "meters_per_pixel": model.model_cfg.meters_per_pixel,
                "ground_height_px": model.model_cfg.ground_height_px,
                "ground_width_px": model.model_cfg.ground_width_px,
                "camera_height_m": model.model_cfg.camera_height_m}
    return {}


CANVAS_KEYS = ("meters_per_pixel", "ground_height_px", "ground_width_px", "camera_height_m")


def canvas_mismatch(localizer_meta: dict, orientation_meta: dict) -> str | None:
    """Why an orientation net cannot pair with a localizer, or None.

    Both read the same ground canvas and satellite scale, and the orientation net's polar grids are built for its
    own canvas size and camera height, so these must agree (keys missing on either side are not compared).
    """
    for key in CANVAS_KEYS:
        ours, theirs = localizer_meta.get(key), orientation_meta.get(key)
        if ours is not None and theirs is not None and not math.isclose(float(ours), float(theirs)):
            return (f"the orientation checkpoint has {key} = {theirs}, the localizer {ours}: "
                    "both networks read the same canvas and satellite scale")
    return None
