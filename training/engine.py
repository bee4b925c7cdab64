"""The training loop shared by every stage: seeds, device, DDP, checkpoints, resume, metrics log.

``train(cfg, out_dir)`` resumes from ``out_dir/last.pt`` when it exists, so re-running the same command
after a kill loses at most one checkpoint interval. Under ``torchrun`` (``WORLD_SIZE`` > 1) it joins the
process group (gloo on CPU, nccl on CUDA) and wraps the stage objective in DDP.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader
from tqdm import tqdm

from training.checkpoint import load_raw, save_checkpoint
from training.config import TrainConfig
from training.datasets import NonOverlappingBatchSampler, build_dataset
from training.ema import ema_update, make_teacher
from training.models import build_localizer, build_orientation, load_checkpoint
from training.objectives import DistillObjective, OrientationObjective, WeakObjective

STAGES = ("weak", "distill", "orientation")


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def setup_distributed(device: str) -> tuple[int, int]:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.startswith("cuda") else "gloo")
    return dist.get_rank(), dist.get_world_size()


def lr_lambda(cfg: TrainConfig):
    warm, total = max(0, cfg.optim.warmup_steps), max(1, cfg.optim.steps)

    def f(step: int) -> float:
        if step < warm:
            return (step + 1) / warm
        if cfg.optim.schedule == "cosine":
            t = min(1.0, (step - warm) / max(1, total - warm))
            return 0.05 + 0.95 * 0.5 * (1.0 + math.cos(math.pi * t))
        return 1.0

    return f


def truncate_log(log_path: Path, step: int) -> None:
    """Keep only the metrics records up to ``step`` (those after the last checkpoint were lost in a kill)."""
    if step == 0:
        log_path.unlink()
        return
    keep = []
    for line in log_path.read_text(encoding="utf-8").splitlines():
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut by the kill
        if int(rec.get("step", 0)) <= step:
            keep.append(line)
    log_path.write_text("".join(x + "\n" for x in keep), encoding="utf-8")


def _to_device(batch: dict, device) -> dict:
    return {k: v.to(device) if torch.is_tensor(v) else v for k, v in batch.items()}


# model fields that change no parameter: a checkpoint trained without them initialises a model with them
PARAMETER_FREE_MODEL_FIELDS = ("photometric_weight", "photometric_stride", "photometric_template_fraction")
# orientation fields that only shape the training queries: a fine-tune may change them
ORIENTATION_TRAINING_FIELDS = ("label_sigma_bins", "max_center_offset_m", "fov_deg")


def _init_weights(model, cfg: TrainConfig, kind: str) -> None:
    """Load ``cfg.run.init_from``'s ``kind`` ("localizer" / "orientation") weights into ``model``; a checkpoint of
    the other kind, or one trained with other settings (bar the parameter-free fields), is refused."""
    init = load_checkpoint(cfg.run.init_from)
    if kind not in init:
        held = ", ".join(k for k in init if k not in ("config", "meta"))
        raise ValueError(f"{cfg.run.init_from} holds no {kind} (it holds a {held})")
    src = init[kind]
    pairs = [("model", cfg.model, src.cfg if kind == "localizer" else src.model_cfg, PARAMETER_FREE_MODEL_FIELDS)]
    if kind == "orientation":
        pairs.append(("orientation", cfg.orientation, src.cfg, ORIENTATION_TRAINING_FIELDS))
    differ = [f"{section}.{f.name}" for section, mine, theirs, free in pairs for f in dataclasses.fields(mine)
              if f.name not in free and getattr(mine, f.name) != getattr(theirs, f.name, None)]
    if differ:
        raise ValueError(f"{cfg.run.init_from} was trained with another model config "
                         f"(differs in {', '.join(differ)}); use its settings")
    model.load_state_dict(src.state_dict())


def build_stage(cfg: TrainConfig, device):
    """The model being trained (saved in checkpoints), its objective, and the EMA teacher (or None).
    ``cfg.run.init_from`` starts either kind from a trained checkpoint of the same kind and settings."""
    teacher = None
    if cfg.stage in ("weak", "distill"):
        model = build_localizer(cfg.model)
        if cfg.run.init_from:
            _init_weights(model, cfg, "localizer")
        model.to(device)
        if cfg.stage == "weak":
            return model, WeakObjective(model, cfg.weak), None
        teacher = make_teacher(model)
        return model, DistillObjective(model, teacher, cfg.distill, cfg.weak), teacher
    if cfg.stage == "orientation":
        model = build_orientation(cfg.orientation, cfg.model)
        if cfg.run.init_from:
            _init_weights(model, cfg, "orientation")
        model.to(device)
        return model, OrientationObjective(model, cfg.orientation, cfg.model.meters_per_pixel,
                                           cfg.orientation.fov_deg), None
    raise ValueError(f"unknown stage {cfg.stage!r}; expected one of {STAGES}")


def train(cfg: TrainConfig, out_dir: str | Path, max_steps: int | None = None, progress: bool = True) -> dict:
    """Run (or resume) one stage. ``max_steps`` stops early (for tests) without changing the schedule."""
    out = Path(out_dir)
    rank, world = setup_distributed(cfg.run.device)
    if cfg.run.threads > 0:
        torch.set_num_threads(cfg.run.threads)
    device = torch.device(cfg.run.device if not cfg.run.device.startswith("cuda") or world == 1
                          else f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    seed_everything(cfg.run.seed + rank)
    if rank == 0:
        out.mkdir(parents=True, exist_ok=True)
    model, objective, teacher = build_stage(cfg, device)
    kind = "orientation" if cfg.stage == "orientation" else "localizer"
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.optim.lr, weight_decay=cfg.optim.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lr_lambda(cfg))
    step, last = 0, out / "last.pt"
    if last.is_file():  # resume
        state = load_raw(last)
        model.load_state_dict(state["state_dict"])
        if state.get("optimizer"):
            opt.load_state_dict(state["optimizer"])
        if state.get("scheduler"):
            sched.load_state_dict(state["scheduler"])
        if teacher is not None and state.get("teacher_state_dict"):
            teacher.load_state_dict(state["teacher_state_dict"])
        step = int(state["step"])
        if rank == 0:
            print(f"resumed {last} at step {step}")
        seed_everything(cfg.run.seed + rank + 1000003 * step)
    wrapped = objective
    if world > 1:
        wrapped = torch.nn.parallel.DistributedDataParallel(objective, find_unused_parameters=False)
    ds = build_dataset(cfg.data, cfg.model, "train")
    sep = cfg.data.min_patch_separation_m or getattr(ds, "patch_width_m", 0.0)
    sampler = NonOverlappingBatchSampler(ds.sat_centers_m, ds.city_ids, cfg.optim.batch_size, sep, seed=cfg.run.seed,
                                         hard_negatives=cfg.data.hard_negatives, rank=rank, world_size=world)
    loader = DataLoader(ds, batch_sampler=sampler, num_workers=cfg.data.num_workers,
                        persistent_workers=cfg.data.num_workers > 0)
    target = cfg.optim.steps if max_steps is None else min(cfg.optim.steps, max_steps)
    log_path = out / "metrics.jsonl"
    if rank == 0 and log_path.exists():
        truncate_log(log_path, step)  # a fresh run starts a fresh log; a resumed one drops the lost steps
    t_ckpt, t0, n_seen, history = time.time(), time.time(), 0, []
    bar = tqdm(total=target, initial=step, disable=not progress or rank != 0, desc=cfg.stage, dynamic_ncols=True)
    epoch = step // max(1, len(sampler))
    model.train()

    def checkpoint(metrics: dict) -> None:
        extra = {"teacher_state_dict": teacher.state_dict()} if teacher is not None else None
        save_checkpoint(last, kind=kind, model=model, cfg=cfg, step=step, optimizer=opt, scheduler=sched,
                        metrics=metrics, extra=extra)

    while step < target:
        sampler.set_epoch(epoch)
        if hasattr(ds, "set_epoch"):
            ds.set_epoch(epoch)
        for batch in loader:
            if step >= target:
                break
            batch = _to_device(batch, device)
            loss, logs = wrapped(batch)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if cfg.optim.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(params, cfg.optim.grad_clip)
            opt.step()
            sched.step()
            step += 1
            n_seen += batch["ground"].shape[0] * world
            if teacher is not None and step % max(1, cfg.distill.ema_interval_steps) == 0:
                ema_update(teacher, model, cfg.distill.ema_decay)
            history.append(float(loss.detach()))
            if rank == 0:
                bar.update(1)
                bar.set_postfix(loss=f"{float(loss.detach()):.4f}")
                if step % max(1, cfg.run.log_every_steps) == 0 or step == target:
                    rec = {"step": step, "loss": float(loss.detach()), "lr": sched.get_last_lr()[0],
                           "samples_per_s": n_seen / max(1e-6, time.time() - t0), "time": time.time(), **logs}
                    with open(log_path, "a", encoding="utf-8") as f:
                        f.write(json.dumps(rec) + "\n")
                due_s = cfg.run.checkpoint_every_s > 0 and time.time() - t_ckpt >= cfg.run.checkpoint_every_s
                due_n = cfg.run.checkpoint_every_steps > 0 and step % cfg.run.checkpoint_every_steps == 0
                if due_s or due_n:
                    checkpoint({"loss": float(np.mean(history[-50:]))})
                    t_ckpt = time.time()
        epoch += 1
    bar.close()
    elapsed = time.time() - t0
    summary = {"step": step, "loss_last": float(np.mean(history[-20:])) if history else None,
               "loss_first": float(np.mean(history[:20])) if history else None,
               "samples_per_s": n_seen / max(1e-6, elapsed), "seconds": elapsed, "world_size": world}
    if rank == 0:
        checkpoint({"loss": summary["loss_last"], "samples_per_s": summary["samples_per_s"]})
    if world > 1:
        dist.barrier()
    return summary
