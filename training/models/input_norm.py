"""Network input normalization of RGB images, shared by the localizer and the orientation net."""

from __future__ import annotations

import torch

_MEAN, _STD = 0.45, 0.25
_IMAGENET_MEAN, _IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # what DINOv2 was trained with
INPUT_NORMS = ("fixed", "imagenet", "instance")
_MIN_STD = 0.02  # instance norm: a flat image is not blown up into noise


def normalize_image(img: torch.Tensor, mask: torch.Tensor | None = None, mode: str = "fixed") -> torch.Tensor:
    """Network input from RGB ``img [B, 3, H, W]`` in [0, 1], over the visible ``mask [B, 1, H, W]``.

    ``fixed``: one mean and std for every image. ``imagenet``: ImageNet's per-channel mean and std (the
    statistics pretrained backbones such as DINOv2 expect). ``instance``: each image's channels standardized by their
    own (masked) mean and std, which removes a global exposure or colour cast, such as a satellite image
    taken by another sensor in another season. Masked-out pixels come out as 0.
    """
    if mode in ("fixed", "imagenet"):
        if mode == "fixed":
            out = (img - _MEAN) / _STD
        else:
            mean = img.new_tensor(_IMAGENET_MEAN).view(1, 3, 1, 1)
            out = (img - mean) / img.new_tensor(_IMAGENET_STD).view(1, 3, 1, 1)
        return out if mask is None else out * mask
    if mask is None:
        mask = torch.ones_like(img[:, :1])
    area = mask.sum(dim=(2, 3), keepdim=True).clamp_min(1.0)
    mean = (img * mask).sum(dim=(2, 3), keepdim=True) / area
    var = (((img - mean) * mask) ** 2).sum(dim=(2, 3), keepdim=True) / area
    return (img - mean) / var.add(_MIN_STD**2).sqrt() * mask
