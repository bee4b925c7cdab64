"""Network input normalization of RGB images, shared by the localizer and the orientation net."""

from __future__ import annotations

import torch

_MEAN, _STD = 0.45, 0.25
INPUT_NORMS = ("fixed", "instance")
_MIN_STD = 0.02  # instance norm: a flat image is not blown up into noise


def normalize_image(img: torch.Tensor, mask: torch.Tensor | None = None, mode: str = "fixed") -> torch.Tensor:
    """Network input from RGB ``img [B, 3, H, W]`` in [0, 1], over the visible ``mask [B, 1, H, W]``.

    ``fixed``: one mean and std for every image. ``instance``: each image's channels standardized by their
    own (masked) mean and std, which removes a global exposure or colour cast, such as a satellite image
    taken by another sensor in another season. Masked-out pixels come out as 0.
    """
    if mode == "fixed":
        out = (img - _MEAN) / _STD
        return out if mask is None else out * mask
    if mask is None:
        mask = torch.ones_like(img[:, :1])
    area = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (img * mask).sum(dim=(2, 3), keepdim=True) / area
    var = (((img - mean) * mask) ** 2).sum(dim=(2, 3), keepdim=True) / area
    return (img - mean) / var.add(_MIN_STD**2).sqrt() * mask
