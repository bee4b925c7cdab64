"""Training losses: the weak batch contrastive loss, the GeoDistill distillation loss, soft-label CE."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def best_scores(maps: torch.Tensor) -> torch.Tensor:
    """Best match of every (ground, satellite) map ``[Bg, Bs, H, W]`` -> ``[Bg, Bs]``."""
    return maps.flatten(2).amax(dim=2)


def weak_contrastive_loss(scores: torch.Tensor, margin_scale: float = 10.0) -> torch.Tensor:
    """G2SWeakly soft-margin loss over the off-diagonal pairs of a ``[B, B]`` best-score matrix.

    With distances ``d = 2 - 2 * score``: ``log(1 + exp(scale * (d_pos - d_neg)))``, averaged over both
    the ground->satellite negatives (rows) and the satellite->ground negatives (columns).
    """
    b = scores.shape[0]
    if scores.shape != (b, b) or b < 2:
        raise ValueError(f"need a square score matrix with B >= 2, got {tuple(scores.shape)}")
    dist = 2.0 - 2.0 * scores
    pos = dist.diagonal()
    off = ~torch.eye(b, dtype=torch.bool, device=scores.device)
    rows = F.softplus(margin_scale * (pos[:, None] - dist))[off]  # ground i vs satellite j
    cols = F.softplus(margin_scale * (pos[None, :] - dist))[off]  # satellite j vs ground i
    return 0.5 * (rows.mean() + cols.mean())


def distillation_loss(student_map: torch.Tensor, teacher_map: torch.Tensor, t_student: float,
                      t_teacher: float) -> torch.Tensor:
    """Cross-entropy between softmax(teacher / t_t) (no gradient) and softmax(student / t_s) over positions.

    Maps ``[B, H, W]``; returns the batch mean.
    """
    b = student_map.shape[0]
    target = torch.softmax(teacher_map.detach().reshape(b, -1) / t_teacher, dim=1)
    log_p = torch.log_softmax(student_map.reshape(b, -1) / t_student, dim=1)
    return -(target * log_p).sum(dim=1).mean()


def gaussian_soft_labels(target_bins: torch.Tensor, bins: int, sigma_bins: float) -> torch.Tensor:
    """Gaussian soft labels ``[B, bins]`` centred on (continuous) bin positions ``target_bins [B]``."""
    centers = torch.arange(bins, dtype=torch.float32, device=target_bins.device)
    w = torch.exp(-0.5 * ((centers[None] - target_bins[:, None].float()) / sigma_bins) ** 2)
    return w / w.sum(dim=1, keepdim=True)


def soft_label_ce(logits: torch.Tensor, soft_labels: torch.Tensor) -> torch.Tensor:
    return -(soft_labels * torch.log_softmax(logits, dim=1)).sum(dim=1).mean()


def yaw_to_bin(delta_deg: torch.Tensor, bins: int, range_deg: float) -> torch.Tensor:
    """Continuous bin index of a yaw correction: bin k is centred on ``-range + (k + 0.5) * step``."""
    step = 2.0 * range_deg / bins
    return (delta_deg + range_deg) / step - 0.5


def bin_to_yaw(k, bins: int, range_deg: float):
    step = 2.0 * range_deg / bins
    return -range_deg + (k + 0.5) * step


def entropy_floor(n: int) -> float:
    return math.log(n)
