"""One ``nn.Module`` per training stage whose ``forward(batch)`` returns ``(loss, logs)``.

Wrapping the loss computation in a module lets DDP synchronise gradients through its ``forward``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.augment import crop_satellite, roll_canvas, rotate_scene_90
from training.config import DistillConfig, OrientationConfig, WeakConfig
from training.fov import random_sector_mask
from training.losses import (
    best_scores,
    bin_to_yaw,
    distillation_loss,
    gaussian_soft_labels,
    soft_label_ce,
    weak_contrastive_loss,
    yaw_to_bin,
)


def masked_query(ground: torch.Tensor, mask: torch.Tensor, fov_range_deg) -> tuple[torch.Tensor, torch.Tensor]:
    """Apply one random visible sector per sample (no-op for a 360-degree range)."""
    if min(fov_range_deg) >= 360.0:
        return ground, mask
    b, _, h, w = ground.shape
    sector = random_sector_mask(b, w, h, tuple(fov_range_deg), device=ground.device)
    m = mask * sector
    return ground * m, m


def half_turn_ensemble(model: nn.Module, sat: torch.Tensor, ground: torch.Tensor, mask: torch.Tensor) -> list:
    """Per-level maps ``[B, H_l, W_l]`` averaged over the pair and the pair turned half a turn (its maps turned
    back). Each level's grid is symmetric under the turn (cell centres ``stride/2 + i*stride`` of an ``S`` px
    patch), so turning a map back is an exact flip of both axes."""
    maps = model.correlate(ground, mask, model.encode_satellite(sat), fft=True)
    sat_t, ground_t, mask_t = rotate_scene_90(sat, ground, mask, 2)
    turned = model.correlate(ground_t, mask_t, model.encode_satellite(sat_t), fft=True)
    return [0.5 * (a + torch.flip(b, dims=(-2, -1))) for a, b in zip(maps, turned)]


def with_photometric_target(model: nn.Module, maps: list, sat: torch.Tensor, ground: torch.Tensor,
                            mask: torch.Tensor, weight: float) -> list:
    """Each level's map ``[B, H_l, W_l]`` plus ``weight`` times the raw-pixel map of the pair resampled to that
    level's grid (bilinear; a 2x finer map averages 2x2 blocks, whose centres are the coarse cell's centre)."""
    if not getattr(model, "photometric", False):
        raise ValueError("distill.teacher_photometric_weight needs the model's photometric level "
                         "(model.photometric_weight > 0)")
    photo = model.correlate_photometric(ground, mask, model.photometric_satellite(sat), fft=True)[:, None]
    return [m + weight * F.interpolate(photo, size=m.shape[-2:], mode="bilinear", align_corners=False)[:, 0]
            for m in maps]


def random_rotation(batch: dict, enabled: bool, training: bool):
    """The batch's satellite, canvas and mask, turned by one random quarter-turn when enabled in training."""
    sat, ground, mask = batch["sat"], batch["ground"], batch["ground_mask"]
    if not (enabled and training):
        return sat, ground, mask
    return rotate_scene_90(sat, ground, mask, int(torch.randint(0, 4, (1,))))


class WeakObjective(nn.Module):
    """G2SWeakly batch contrastive loss; ``cfg.fov_deg`` < 360 gives the equal-time masked control."""

    def __init__(self, localizer: nn.Module, cfg: WeakConfig):
        super().__init__()
        self.localizer = localizer
        self.cfg = cfg

    def forward(self, batch: dict):
        sat, ground, mask = random_rotation(batch, self.cfg.rotate90, self.training)
        ground, mask = masked_query(ground, mask, self.cfg.fov_deg)
        feats = self.localizer.encode_satellite(sat)
        maps = self.localizer.correlate(ground, mask, feats, all_pairs=True)
        losses = [weak_contrastive_loss(best_scores(maps[i]), self.cfg.margin_scale) for i in self.cfg.levels]
        loss = torch.stack(losses).mean()
        with torch.no_grad():
            s = best_scores(maps[-1])
            acc = (s.argmax(dim=1) == torch.arange(s.shape[0], device=s.device)).float().mean()
        logs = {f"weak_l{i}": float(v.detach()) for i, v in zip(self.cfg.levels, losses)}
        logs["retrieval_acc"] = float(acc)
        return loss, logs


class DistillObjective(nn.Module):
    """GeoDistill: EMA teacher on the full panorama, student on a FoV-masked copy, CE per level."""

    def __init__(self, student: nn.Module, teacher: nn.Module, cfg: DistillConfig, weak_cfg: WeakConfig):
        super().__init__()
        self.student = student
        self.teacher = teacher
        self.cfg = cfg
        self.weak_cfg = weak_cfg

    def forward(self, batch: dict):
        sat, ground, mask = random_rotation(batch, self.cfg.rotate90, self.training)
        with torch.no_grad():
            if self.cfg.teacher_half_turn:
                t_maps = half_turn_ensemble(self.teacher, sat, ground, mask)
            else:
                t_maps = self.teacher.correlate(ground, mask, self.teacher.encode_satellite(sat), fft=True)
            if self.cfg.teacher_photometric_weight > 0:
                t_maps = with_photometric_target(self.teacher, t_maps, sat, ground, mask,
                                                 self.cfg.teacher_photometric_weight)
        g_s, m_s = masked_query(ground, mask, self.cfg.fov_deg)
        feats = self.student.encode_satellite(sat)
        s_maps = self.student.correlate(g_s, m_s, feats, fft=True)
        losses = [distillation_loss(s_maps[i], t_maps[i], self.cfg.student_temperature,
                                    self.cfg.teacher_temperature) for i in self.cfg.levels]
        loss = torch.stack(losses).mean()
        logs = {f"distill_l{i}": float(v.detach()) for i, v in zip(self.cfg.levels, losses)}
        if self.cfg.weak_weight > 0:
            maps = self.student.correlate(ground, mask, feats, all_pairs=True)
            weak = torch.stack([weak_contrastive_loss(best_scores(maps[i]), self.weak_cfg.margin_scale)
                                for i in self.weak_cfg.levels]).mean()
            loss = loss + self.cfg.weak_weight * weak
            logs["weak"] = float(weak)
        return loss, logs


class OrientationObjective(nn.Module):
    """Soft-label CE over yaw bins. Each sample: a random yaw error ``delta`` within the range (the label,
    known exactly because we apply it), a random joint scene rotation, and a satellite crop whose centre is
    off the camera by up to ``max_center_offset_m``."""

    def __init__(self, net: nn.Module, cfg: OrientationConfig, meters_per_pixel: float,
                 fov_range_deg=(360.0, 360.0)):
        super().__init__()
        self.net = net
        self.cfg = cfg
        self.mpp = meters_per_pixel
        self.fov_range_deg = tuple(fov_range_deg)

    def forward(self, batch: dict):
        ground, mask, sat = batch["ground"], batch["ground_mask"], batch["sat"]
        b = ground.shape[0]
        delta = (torch.rand(b) * 2.0 - 1.0) * self.cfg.range_deg
        beta = (torch.rand(b) * 2.0 - 1.0) * 180.0
        off = (torch.rand(b, 2) * 2.0 - 1.0) * self.cfg.max_center_offset_m / self.mpp
        sat_o = crop_satellite(sat, batch["gt_row_px"] + off[:, 0], batch["gt_col_px"] + off[:, 1],
                               self.cfg.sat_size_px, rotation_deg=beta)
        g, m = masked_query(ground, mask, self.fov_range_deg)
        shift = (delta - beta).to(ground.device)
        g, m = roll_canvas(g, shift), roll_canvas(m, shift)
        logits = self.net(sat_o, g, m)
        target = yaw_to_bin(delta, self.cfg.bins, self.cfg.range_deg).to(logits.device)
        loss = soft_label_ce(logits, gaussian_soft_labels(target, self.cfg.bins, self.cfg.label_sigma_bins))
        with torch.no_grad():
            pred = bin_to_yaw(logits.argmax(dim=1).float().cpu(), self.cfg.bins, self.cfg.range_deg)
            err = (pred - delta).abs()
        return loss, {"yaw_err_deg": float(err.mean()), "yaw_med_deg": float(err.median())}
