"""Losses on hand-computed cases; gradients reach the student only; EMA; FoV masks; soft labels."""

import math

import torch

from training.ema import ema_update, make_teacher
from training.fov import random_sector_mask, sector_mask
from training.losses import distillation_loss, gaussian_soft_labels, weak_contrastive_loss, yaw_to_bin


def test_weak_loss_hand_computed():
    s = torch.tensor([[0.9, 0.5], [0.2, 0.8]])
    # d = 2 - 2s; rows: g0 vs s1: softplus(10*(d00 - d01)) = softplus(10*(0.2 - 1.0)); g1 vs s0: softplus(10*(0.4-1.6))
    rows = [math.log1p(math.exp(10 * (0.2 - 1.0))), math.log1p(math.exp(10 * (0.4 - 1.6)))]
    # cols: s0 vs g1: softplus(10*(d00 - d10)) = 10*(0.2-1.6); s1 vs g0: 10*(d11 - d01) = 10*(0.4-1.0)
    cols = [math.log1p(math.exp(10 * (0.2 - 1.6))), math.log1p(math.exp(10 * (0.4 - 1.0)))]
    expected = 0.5 * (sum(rows) / 2 + sum(cols) / 2)
    assert abs(float(weak_contrastive_loss(s, 10.0)) - expected) < 1e-6


def test_weak_loss_prefers_correct_pairs():
    good = torch.eye(4) * 0.8 + 0.1
    bad = 0.9 - torch.eye(4) * 0.8
    assert weak_contrastive_loss(good) < weak_contrastive_loss(bad)


def test_distillation_loss_hand_computed_and_gradients():
    student = torch.tensor([[[0.0, 1.0]]], requires_grad=True)  # [B=1, H=1, W=2]
    teacher = torch.tensor([[[1.0, 0.0]]], requires_grad=True)
    loss = distillation_loss(student, teacher, t_student=0.5, t_teacher=1.0)
    p_t = torch.softmax(torch.tensor([1.0, 0.0]), 0)
    log_s = torch.log_softmax(torch.tensor([0.0, 2.0]), 0)
    assert abs(float(loss.detach()) + float((p_t * log_s).sum())) < 1e-6
    loss.backward()
    assert student.grad is not None and student.grad.abs().sum() > 0
    assert teacher.grad is None


def test_ema_update():
    student = torch.nn.Linear(2, 1)
    teacher = make_teacher(student)
    with torch.no_grad():
        student.weight.fill_(1.0)
        teacher.weight.fill_(0.0)
    ema_update(teacher, student, 0.9)
    torch.testing.assert_close(teacher.weight, torch.full_like(teacher.weight, 0.1))
    assert not any(p.requires_grad for p in teacher.parameters())


def test_sector_mask_width_and_wrap():
    w = 360
    m = sector_mask(w, 4, torch.tensor([math.radians(170.0)]), torch.tensor([math.radians(90.0)]))
    assert m.shape == (1, 1, 4, w)
    assert int(m[0, 0, 0].sum()) == 90
    # starts at azimuth 170 deg (column 350) and wraps past the seam
    assert m[0, 0, 0, 355] == 1 and m[0, 0, 0, 10] == 1 and m[0, 0, 0, 90] == 0


def test_random_sector_mask_range():
    g = torch.Generator().manual_seed(0)
    m = random_sector_mask(64, 360, 2, (180.0, 240.0), generator=g)
    widths = m[:, 0, 0].sum(dim=1)
    assert widths.min() >= 179 and widths.max() <= 241


def test_soft_labels():
    lab = gaussian_soft_labels(torch.tensor([10.0, 0.0]), 90, 1.0)
    assert lab.shape == (2, 90)
    torch.testing.assert_close(lab.sum(1), torch.ones(2))
    assert int(lab[0].argmax()) == 10
    assert abs(float(yaw_to_bin(torch.tensor(0.5), 90, 45.0)) - 45.0) < 1e-6
