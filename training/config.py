"""Every training hyper-parameter, with its default, in one place.

YAML files in ``training/configs/`` override these defaults section by section (``model:``, ``data:``,
``optim:``, ``weak:``, ``distill:``, ``orientation:``, ``run:``). Paper values (GeoDistill, ICCV 2025 and
its reference code) are documented next to each field; where the CPU default differs, both are given.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import yaml


@dataclass
class ModelConfig:
    """Localizer network. Defaults: a small CNN that trains on 2 CPU cores; wider configs for GPU."""

    sat_size_px: int = 320  # training satellite patch (fully convolutional: runtime may search 512)
    meters_per_pixel: float = 0.2
    ground_height_px: int = 128  # north-aligned equirectangular canvas
    ground_width_px: int = 256
    camera_height_m: float = 2.0  # VIGOR / reference value
    sat_channels: tuple[int, ...] = (16, 32, 48, 64)  # encoder widths at strides 2, 4, 8, 16
    ground_channels: tuple[int, ...] = (16, 32, 48)  # ground encoder widths at strides 2, 4, 8
    feature_dim: tuple[int, ...] = (32, 16)  # channels of each matching level (coarse first)
    level_strides: tuple[int, ...] = (8, 4)  # satellite-pixel stride of each level (coarse first)
    template_fraction: float = 0.4  # BEV template width / satellite width (reference: centre 40%)
    temperature: float = 0.1  # softmax temperature of the fused correlation (logits are NCC sums)
    input_norm: str = "fixed"  # "fixed" mean/std, "imagenet" (per channel; use it with dinov2), or "instance"
    backbone: str = "cnn"  # "cnn", or "dinov2": a DINOv2 ViT (reference: frozen ViT-B/14) + DPT-style decoders
    dinov2_arch: str = "vitb14"  # vits14 / vitb14 / vitl14, "_reg" suffix for the register variants
    dinov2_weights: str = ""  # local official checkpoint file, read by build_localizer; never downloaded
    dinov2_frozen: bool = True  # reference: the ViT is frozen, only the decoders train
    dinov2_channels: int = 128  # decoder width
    # Photometric level (ours, not the paper's): zero-mean NCC of the raw RGB bird's-eye view against the raw
    # satellite image, added to the fused map with this weight (0: off). No parameters, so it can be switched
    # on for a trained model; it is what the learned levels lack on styles training never saw.
    photometric_weight: float = 0.0
    photometric_stride: int = 2  # satellite pixels per cell; must divide the finest learned stride
    photometric_template_fraction: float = 0.4  # BEV template width / satellite width, as template_fraction

    @property
    def prob_stride_px(self) -> int:
        return int(self.level_strides[-1])

    @property
    def prob_origin_px(self) -> float:
        return self.prob_stride_px / 2.0


@dataclass
class DataConfig:
    root: str = ""  # dataset root (VIGOR layout or KITTI); the CLI's --data overrides it
    kind: str = "vigor"  # "vigor" (also the synthetic worlds) or "kitti"
    split: str = "train"
    vigor_mode: str = "same"  # "same" (same-area) or "cross" (cross-area)
    cities: tuple[str, ...] = ()  # empty: every city folder found
    val_fraction: float = 0.1  # same-area validation split held out of the training panoramas
    num_workers: int = 0
    positives_only: bool = True  # VIGOR: only the positive satellite (not the 3 semi-positives)
    min_patch_separation_m: float = 0.0  # 0: use the patch width (batches never hold overlapping patches)
    hard_negatives: bool = False  # batch nearby (non-overlapping) patches together
    augment_color: bool = True
    augment_mode: str = "mild"  # "mild" exposure jitter, or "strong" per-view colour randomization
    # level every panorama by its recorded camera attitude (<city>/attitude.json: make_synth_data with the gap,
    # geodistill bag-dataset without --level-with-imu), as evaluation's --level-attitude and the node's IMU levelling do
    level_attitude: bool = False


@dataclass
class OptimConfig:
    lr: float = 1e-4  # reference: AdamW 1e-4
    weight_decay: float = 1e-5  # reference
    grad_clip: float = 1.0  # reference
    batch_size: int = 16  # reference: 16; CPU default set in the YAML
    steps: int = 2000
    warmup_steps: int = 50
    schedule: str = "cosine"  # reference: cosine


@dataclass
class WeakConfig:
    """G2SWeakly-style batch contrastive loss."""

    margin_scale: float = 10.0  # log(1 + exp(scale * (d_pos - d_neg))) with d = 2 - 2 * score (reference: 10)
    levels: tuple[int, ...] = (0, 1)  # which correlation levels carry the weak loss
    fov_deg: tuple[float, float] = (360.0, 360.0)  # 360: panoramas; the equal-time control masks queries
    rotate90: bool = False  # random exact quarter-turn scene rotations (satellite rot90 + canvas roll); slows CPU runs


@dataclass
class DistillConfig:
    """GeoDistill self-distillation (paper defaults documented; CPU values in configs/distill.yaml)."""

    ema_decay: float = 0.999  # reference: 0.9 updated once per epoch; per-step updates want ~0.999
    ema_interval_steps: int = 1  # teacher update every N student steps
    teacher_temperature: float = 0.06  # paper config t_t (reference code default 0.09)
    student_temperature: float = 0.06  # paper config t_s (reference code default 0.2)
    fov_deg: tuple[float, float] = (180.0, 240.0)  # student visible sector width, uniform in range
    levels: tuple[int, ...] = (0, 1)  # per-level CE, averaged
    weak_weight: float = 0.0  # optional weak loss on the full panorama kept during distillation
    rotate90: bool = False  # random exact quarter-turn scene rotations (same for teacher and student)
    # ours: the teacher's target per level also holds the photometric map times this weight (needs the model's
    # photometric level on, model.photometric_weight > 0), so the student's learned levels learn what raw pixels see
    teacher_photometric_weight: float = 0.0
    # Ours, not the paper's: the teacher also sees the pair turned half a turn and averages that map (turned
    # back) with its own, which cancels the constant offset weak training leaves (training/offset_calibration)
    # and sharpens the target; costs a second teacher pass.
    teacher_half_turn: bool = False


@dataclass
class OrientationConfig:
    bins: int = 90  # 1-degree bins
    range_deg: float = 45.0  # relative yaw in [-range, range)
    label_sigma_bins: float = 1.0  # Gaussian soft labels
    sat_size_px: int = 128  # orientation satellite patch at model meters_per_pixel (centred on the estimate)
    bev_size_px: int = 128  # BEV projection of the ground canvas, same metric extent as the satellite patch
    channels: tuple[int, ...] = (16, 32, 64, 96)
    max_center_offset_m: float = 2.0  # training: patch centre off the camera by up to this per axis
    fov_deg: tuple[float, float] = (90.0, 360.0)  # training queries: one visible sector of this width range


@dataclass
class RunConfig:
    seed: int = 0
    device: str = "cpu"
    threads: int = 0  # torch threads on CPU (0: leave torch's default)
    checkpoint_every_s: float = 180.0
    checkpoint_every_steps: int = 0
    log_every_steps: int = 10
    init_from: str = ""  # checkpoint to start from (distillation: the weak model; orientation: a fine-tune)


@dataclass
class TrainConfig:
    stage: str = "weak"  # "weak" | "distill" | "orientation"
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    weak: WeakConfig = field(default_factory=WeakConfig)
    distill: DistillConfig = field(default_factory=DistillConfig)
    orientation: OrientationConfig = field(default_factory=OrientationConfig)
    run: RunConfig = field(default_factory=RunConfig)

    def to_dict(self) -> dict:
        return asdict(self)

    def hash(self) -> str:
        return hashlib.sha256(json.dumps(self.to_dict(), sort_keys=True).encode()).hexdigest()[:12]


def _coerce(value, default):
    """Match the default's type (YAML reads ``1e-3`` as a string and lists for tuples)."""
    if isinstance(default, tuple) and isinstance(value, list):
        return tuple(value)
    if isinstance(default, bool):
        return bool(value)
    if isinstance(default, float) and isinstance(value, (int, str)):
        return float(value)
    if isinstance(default, int) and isinstance(value, str):
        return int(value)
    return value


def _update(obj, values: dict, where: str):
    names = {f.name: f for f in dataclasses.fields(obj)}
    for key, value in values.items():
        if key not in names:
            raise ValueError(f"unknown config field {where}{key}")
        current = getattr(obj, key)
        if dataclasses.is_dataclass(current):
            if not isinstance(value, dict):
                raise ValueError(f"config field {where}{key} must be a mapping")
            _update(current, value, f"{where}{key}.")
        else:
            setattr(obj, key, _coerce(value, current))
    return obj


def config_from_dict(values: dict | None) -> TrainConfig:
    return _update(TrainConfig(), dict(values or {}), "")


def model_config_from_dict(values: dict) -> ModelConfig:
    return _update(ModelConfig(), dict(values), "model.")


def orientation_config_from_dict(values: dict) -> OrientationConfig:
    return _update(OrientationConfig(), dict(values), "orientation.")


def load_config(path: str | Path | None, overrides: dict | None = None) -> TrainConfig:
    """Defaults, then the YAML file, then ``overrides`` (nested dict)."""
    cfg = TrainConfig()
    if path:
        with open(path, encoding="utf-8") as f:
            _update(cfg, yaml.safe_load(f) or {}, "")
    if overrides:
        _update(cfg, overrides, "")
    return cfg
