"""Photometric augmentation of training images (float32 RGB in [0, 1], ``[H, W, 3]``).

``mild`` is a small exposure / white-balance jitter. ``strong`` is domain randomization for styles the
training worlds do not show: each image gets its own gain per channel, gamma, contrast, saturation and
occasional greyscale, so that the network cannot rely on absolute colours, and the ground image and the
satellite patch of a pair get different draws (as a satellite taken at another time with another sensor).
Only ``strong`` also permutes the colour channels, with one permutation per pair so that the colour
correspondence between the two views survives.
"""

from __future__ import annotations

import numpy as np

MODES = ("mild", "strong")
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def color_jitter(img: np.ndarray, rng: np.random.Generator, strength: float = 0.15) -> np.ndarray:
    """Per-channel gain in ``1 +- strength`` and a shared brightness offset."""
    gain = 1.0 + rng.uniform(-strength, strength, size=3)
    bias = rng.uniform(-strength, strength) * 0.3
    return np.clip(img * gain[None, None, :] + bias, 0.0, 1.0).astype(np.float32)


def style_jitter(img: np.ndarray, rng: np.random.Generator, channel_order: np.ndarray | None = None,
                 p_grey: float = 0.1) -> np.ndarray:
    """One strong photometric draw: gain per channel, gamma, contrast, saturation, maybe greyscale."""
    x = img if channel_order is None else img[..., channel_order]
    x = np.clip(x * rng.uniform(0.65, 1.35, size=3).astype(np.float32), 0.0, 1.0)
    x = x ** np.float32(np.exp(rng.uniform(np.log(0.6), np.log(1.6))))
    luma = x @ _LUMA
    if rng.random() < p_grey:
        x = np.repeat(luma[..., None], 3, axis=2)
    else:
        x = luma[..., None] + (x - luma[..., None]) * np.float32(rng.uniform(0.3, 1.6))
    mean = float(luma.mean())
    x = mean + (x - mean) * np.float32(rng.uniform(0.6, 1.4)) + np.float32(rng.uniform(-0.1, 0.1))
    return np.clip(x, 0.0, 1.0).astype(np.float32)


def augment_pair(ground: np.ndarray, sat: np.ndarray, rng: np.random.Generator,
                 mode: str = "mild") -> tuple[np.ndarray, np.ndarray]:
    """The augmented ``(ground, sat)`` of one training pair; ``mode`` is one of :data:`MODES`."""
    if mode == "mild":
        return color_jitter(ground, rng), color_jitter(sat, rng)
    if mode == "strong":
        order = rng.permutation(3) if rng.random() < 0.5 else None
        return style_jitter(ground, rng, order), style_jitter(sat, rng, order)
    raise ValueError(f"unknown augmentation mode {mode!r} (one of {', '.join(MODES)})")
