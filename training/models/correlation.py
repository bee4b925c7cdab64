"""Masked normalized cross-correlation of BEV templates over satellite feature maps (conv2d)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

EPS = 1e-6


def _normalise_template(template: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    t = template * mask
    norm = t.flatten(1).norm(dim=1).clamp_min(EPS)
    return t / norm[:, None, None, None]


def ncc_positive(sat: torch.Tensor, template: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each template against its own satellite map.

    Args:
        sat: ``[B, C, H, W]``; template: ``[B, C, K, K]`` (K odd); mask: ``[B, 1, K, K]`` in [0, 1].
    Returns:
        ``[B, H, W]`` scores in [-1, 1]; cell ``(i, j)`` = template centre on satellite cell ``(i, j)``.
    """
    b, c, h, w = sat.shape
    k = template.shape[-1]
    pad = k // 2
    t = _normalise_template(template, mask)
    num = F.conv2d(sat.reshape(1, b * c, h, w), t, padding=pad, groups=b)
    energy = (sat * sat).sum(dim=1, keepdim=True).reshape(1, b, h, w)
    den = F.conv2d(energy, mask * mask, padding=pad, groups=b).clamp_min(EPS).sqrt()
    return (num / den).reshape(b, h, w)


def ncc_all_pairs(sat: torch.Tensor, template: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Every template against every satellite map: ``[B_ground, B_sat, H, W]``."""
    k = template.shape[-1]
    pad = k // 2
    t = _normalise_template(template, mask)
    num = F.conv2d(sat, t, padding=pad)  # [B_sat, B_ground, H, W]
    energy = (sat * sat).sum(dim=1, keepdim=True)
    den = F.conv2d(energy, mask * mask, padding=pad).clamp_min(EPS).sqrt()
    return (num / den).transpose(0, 1)


def _fft_xcorr(sat: torch.Tensor, kernel: torch.Tensor, pairs: str) -> torch.Tensor:
    """``conv2d(sat, kernel, padding=K//2)`` (cross-correlation, channels summed) via FFT.

    ``pairs="all"``: every kernel on every map, ``[B_s, B_k, H, W]``; ``pairs="own"``: kernel ``b`` on map
    ``b`` only, ``[B, H, W]``.
    """
    _, _, h, w = sat.shape
    k = kernel.shape[-1]
    pad = k // 2
    fh, fw = h + k - 1, w + k - 1
    fs = torch.fft.rfft2(sat, s=(fh, fw))
    fk = torch.fft.rfft2(torch.flip(kernel, dims=(-2, -1)), s=(fh, fw))
    prod = torch.einsum("scij,kcij->skij" if pairs == "all" else "bcij,bcij->bij", fs, fk)
    full = torch.fft.irfft2(prod, s=(fh, fw))
    return full[..., pad: pad + h, pad: pad + w]


def _fft_xcorr_all_pairs(sat: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    return _fft_xcorr(sat, kernel, "all")


def ncc_positive_fft(sat: torch.Tensor, template: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Same as :func:`ncc_positive`, computed with FFTs (training on CPU; ONNX export keeps the conv form)."""
    t = _normalise_template(template, mask)
    num = _fft_xcorr(sat, t, "own")
    energy = (sat * sat).sum(dim=1, keepdim=True)
    den = _fft_xcorr(energy, mask * mask, "own").clamp_min(EPS).sqrt()
    return num / den


def ncc_all_pairs_fft(sat: torch.Tensor, template: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Same as :func:`ncc_all_pairs`, computed with FFTs (much cheaper for large templates on CPU)."""
    t = _normalise_template(template, mask)
    num = _fft_xcorr_all_pairs(sat, t)
    energy = (sat * sat).sum(dim=1, keepdim=True)
    den = _fft_xcorr_all_pairs(energy, mask * mask).clamp_min(EPS).sqrt()
    return (num / den).transpose(0, 1)


def zncc_positive(sat: torch.Tensor, template: torch.Tensor, mask: torch.Tensor, fft: bool = False) -> torch.Tensor:
    """Zero-mean NCC of each template against its own map, per channel, averaged over channels.

    Each channel's template and the satellite window under it lose their (mask-weighted) means and are scaled to
    unit norm, so a gain and an offset per channel (an exposure or colour shift between the two images) do not
    change the score. Used for raw pixels, whose means carry no location; learned features use :func:`ncc_positive`.
    ``fft=True`` computes the three window sums with FFTs (much faster on CPU for large templates; the conv form
    is what ONNX export traces).

    Args:
        sat: ``[B, C, H, W]``; template: ``[B, C, K, K]`` (K odd); mask: ``[B, 1, K, K]`` in [0, 1].
    Returns:
        ``[B, H, W]`` scores in [-1, 1]; cell ``(i, j)`` = template centre on satellite cell ``(i, j)``.
    """
    b, c, h, w = sat.shape
    k = template.shape[-1]
    weight = mask * mask  # [B, 1, K, K]
    area = weight.flatten(1).sum(dim=1).clamp_min(EPS)[:, None, None, None]  # [B, 1, 1, 1]
    t_mean = (template * weight).sum(dim=(2, 3), keepdim=True) / area  # [B, C, 1, 1]
    t0 = (template - t_mean) * weight
    t_var = (t0 * (template - t_mean)).sum(dim=(2, 3))  # [B, C]
    kernels = torch.cat([t0, weight.expand(-1, c, -1, -1), weight.expand(-1, c, -1, -1)], dim=1)  # [B, 3C, K, K]
    maps = torch.cat([sat, sat, sat * sat], dim=1)  # [B, 3C, H, W]: num, first and second window moments
    if fft:
        sums = _fft_xcorr(maps.reshape(b * 3 * c, 1, h, w), kernels.reshape(b * 3 * c, 1, k, k), "own")
    else:
        sums = F.conv2d(maps.reshape(1, b * 3 * c, h, w), kernels.reshape(b * 3 * c, 1, k, k), padding=k // 2,
                        groups=b * 3 * c)
    num, s1, s2 = sums.reshape(b, 3, c, h, w).unbind(dim=1)
    s_var = (s2 - s1 * s1 / area).clamp_min(0.0)
    score = num / (s_var * t_var[:, :, None, None]).clamp_min(EPS * EPS).sqrt()
    return score.mean(dim=1)
