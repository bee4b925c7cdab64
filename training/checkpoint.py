"""Checkpoint dicts: model args, config, optimizer, step, metrics; atomic writes; resume."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from training.config import TrainConfig


def model_args(kind: str, cfg: TrainConfig) -> dict:
    return {"kind": kind, "model": dataclasses.asdict(cfg.model), "orientation": dataclasses.asdict(cfg.orientation)}


def save_checkpoint(path: str | Path, *, kind: str, model, cfg: TrainConfig, step: int, optimizer=None,
                    scheduler=None, metrics: dict | None = None, extra: dict | None = None) -> Path:
    """Write atomically (temp file + rename) so a kill never leaves a truncated checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {
        "model_args": model_args(kind, cfg),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "config": cfg.to_dict(),
        "config_hash": cfg.hash(),
        "stage": cfg.stage,
        "step": int(step),
        "metrics": dict(metrics or {}),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": {"torch": torch.get_rng_state()},
    }
    if extra:
        state.update(extra)
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_raw(path: str | Path) -> dict:
    return torch.load(Path(path), map_location="cpu", weights_only=False)


def strip_for_release(src: str | Path, dst: str | Path, metrics: dict | None = None) -> Path:
    """Copy a checkpoint without optimizer / scheduler / extra state (the shipped weights)."""
    state = load_raw(src)
    keep = {k: state[k] for k in ("model_args", "state_dict", "config", "config_hash", "stage", "step", "metrics")}
    if state.get("posterior_temperature") is not None:  # the calibration written by geodistill eval
        keep["posterior_temperature"] = float(state["posterior_temperature"])
    if state.get("position_offset_rc_px") is not None:  # the label-free offset calibration, likewise
        keep["position_offset_rc_px"] = [float(v) for v in state["position_offset_rc_px"]]
    if metrics is not None:
        keep["metrics"] = metrics
    dst = Path(dst)
    dst.parent.mkdir(parents=True, exist_ok=True)
    torch.save(keep, dst)
    return dst
