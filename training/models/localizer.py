"""The cross-view localizer: satellite encoder, ground encoder, polar BEV projection, masked NCC per level.

API (docs/ARCHITECTURE.md, "Torch models"):
``encode_satellite(sat [B,3,S,S]) -> list[Tensor]`` one map per level (coarse first), and
``match(ground [B,3,Hg,Wg], ground_mask [B,1,Hg,Wg], sat_feats) -> {"logits", "prob"}`` at the finest
level's stride (``prob_stride_px``), cell ``(i, j)`` centred on satellite pixel
``(prob_origin_px + i * stride, prob_origin_px + j * stride)``.  ``correlate`` also returns the per-level
maps that the losses use.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from training.config import ModelConfig
from training.models import dinov2
from training.models.blocks import UNetEncoder
from training.models.correlation import ncc_all_pairs_fft, ncc_positive, ncc_positive_fft, zncc_positive
from training.models.input_norm import INPUT_NORMS, normalize_image
from training.models.projection import polar_grid, project_to_bev, template_cells

GROUND_STRIDE = 2  # ground features are computed at half the canvas resolution
BACKBONES = ("cnn", "dinov2")


class Localizer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        if cfg.backbone not in BACKBONES:
            raise ValueError(f"unknown backbone {cfg.backbone!r} (one of {', '.join(BACKBONES)})")
        if cfg.input_norm not in INPUT_NORMS:
            raise ValueError(f"unknown input_norm {cfg.input_norm!r} (one of {', '.join(INPUT_NORMS)})")
        if len(cfg.feature_dim) != len(cfg.level_strides):
            raise ValueError("feature_dim and level_strides need one entry per level")
        if list(cfg.level_strides) != sorted(cfg.level_strides, reverse=True):
            raise ValueError("level_strides must go from coarse to fine")
        self.cfg = cfg
        self.strides = tuple(int(s) for s in cfg.level_strides)
        if cfg.backbone == "dinov2":  # one ViT for both views (built here; build_localizer loads its weights)
            self.vit = dinov2.ViT(**dinov2.parse_arch(cfg.dinov2_arch))
            if cfg.dinov2_frozen:
                self.vit.requires_grad_(False)
            n_maps = len(dinov2.tapped_blocks(self.vit.depth))
            self.sat_encoder = dinov2.DPTDecoder(self.vit.embed_dim, n_maps, self.strides, cfg.dinov2_channels)
            self.ground_encoder = dinov2.DPTDecoder(self.vit.embed_dim, n_maps, (GROUND_STRIDE,), cfg.dinov2_channels)
        else:
            self.sat_encoder = UNetEncoder(3, cfg.sat_channels, min_stride=min(self.strides))
            self.ground_encoder = UNetEncoder(4, cfg.ground_channels, min_stride=GROUND_STRIDE)
        self.sat_heads = nn.ModuleList(
            nn.Conv2d(self.sat_encoder.out_channels[s], d, 1) for s, d in zip(self.strides, cfg.feature_dim)
        )
        c_g = self.ground_encoder.out_channels[GROUND_STRIDE]
        self.ground_heads = nn.ModuleList(nn.Conv2d(c_g, d, 1) for d in cfg.feature_dim)
        feat_hw = (cfg.ground_height_px // GROUND_STRIDE, cfg.ground_width_px // GROUND_STRIDE)
        self.template_sizes = []
        for i, s in enumerate(self.strides):
            k = template_cells(cfg.sat_size_px, s, cfg.template_fraction)
            self.template_sizes.append(k)
            grid = polar_grid(k, s, cfg.meters_per_pixel, cfg.camera_height_m, feat_hw)
            self.register_buffer(f"grid_{i}", torch.from_numpy(grid), persistent=False)
            mgrid = polar_grid(k, s, cfg.meters_per_pixel, cfg.camera_height_m,
                               (cfg.ground_height_px, cfg.ground_width_px))
            self.register_buffer(f"mask_grid_{i}", torch.from_numpy(mgrid), persistent=False)
        self.photometric = cfg.photometric_weight > 0.0
        if self.photometric:
            sp = int(cfg.photometric_stride)
            if sp < 1 or self.strides[-1] % sp:
                raise ValueError(f"photometric_stride {sp} must divide the finest level stride {self.strides[-1]}")
            k = template_cells(cfg.sat_size_px, sp, cfg.photometric_template_fraction)
            grid = polar_grid(k, sp, cfg.meters_per_pixel, cfg.camera_height_m,
                              (cfg.ground_height_px, cfg.ground_width_px))
            self.register_buffer("photo_grid", torch.from_numpy(grid), persistent=False)
        elif cfg.photometric_weight < 0.0:
            raise ValueError(f"photometric_weight must be >= 0, got {cfg.photometric_weight}")
        self.log_temperature = nn.Parameter(torch.tensor(float(cfg.temperature)).log(), requires_grad=False)

    # --- metadata --------------------------------------------------------------------------------
    @property
    def prob_stride_px(self) -> int:
        return self.strides[-1]

    @property
    def prob_origin_px(self) -> float:
        return self.strides[-1] / 2.0

    @property
    def n_sat_maps(self) -> int:
        """Satellite maps that ``encode_satellite`` returns: one per learned level, plus the photometric one."""
        return len(self.strides) + int(self.photometric)

    @property
    def temperature(self) -> float:
        return float(self.log_temperature.exp())

    # --- satellite -------------------------------------------------------------------------------
    def _encode(self, encoder: nn.Module, x: torch.Tensor) -> dict[int, torch.Tensor]:
        """``{stride: [B, C, H / stride, W / stride]}`` from the CNN, or from the ViT and ``encoder`` (a decoder)."""
        if self.cfg.backbone == "dinov2":
            return encoder(dinov2.vit_features(self.vit, x, self.cfg.dinov2_frozen), x.shape[-2:])
        return encoder(x)

    def encode_satellite(self, sat: torch.Tensor) -> list[torch.Tensor]:
        """One map per learned level (coarse first), then, with the photometric level on, the raw RGB
        ``[B, 3, S / photometric_stride, S / photometric_stride]`` (box-averaged)."""
        feats = self._encode(self.sat_encoder, normalize_image(sat, None, self.cfg.input_norm))
        out = [head(feats[s]) for s, head in zip(self.strides, self.sat_heads)]
        if self.photometric:
            out.append(self.photometric_satellite(sat))
        return out

    def photometric_satellite(self, sat: torch.Tensor) -> torch.Tensor:
        """The photometric level's satellite map: RGB ``[B, 3, S, S]`` box-averaged to ``photometric_stride``."""
        sp = int(self.cfg.photometric_stride)
        return F.avg_pool2d(sat, sp) if sp > 1 else sat

    # --- ground ----------------------------------------------------------------------------------
    def project_ground(self, ground: torch.Tensor, ground_mask: torch.Tensor):
        """BEV templates and their masks per level: lists of ``[B, C, K, K]`` and ``[B, 1, K, K]``."""
        x = normalize_image(ground, ground_mask, self.cfg.input_norm)  # 0 where masked
        if self.cfg.backbone == "cnn":
            x = torch.cat([x, ground_mask], dim=1)
        feat = self._encode(self.ground_encoder, x)[GROUND_STRIDE]
        templates, masks = [], []
        for i, head in enumerate(self.ground_heads):
            g = head(feat)
            bev = project_to_bev(g, getattr(self, f"grid_{i}"))
            m = project_to_bev(ground_mask, getattr(self, f"mask_grid_{i}"))
            templates.append(bev * m)
            masks.append(m)
        return templates, masks

    # --- matching --------------------------------------------------------------------------------
    def correlate(self, ground, ground_mask, sat_feats, all_pairs: bool = False,
                  fft: bool = False) -> list[torch.Tensor]:
        """Per-level NCC maps of the learned levels (coarse first): ``[B, H_l, W_l]`` or ``[B, B, H_l, W_l]``
        if ``all_pairs``. These are what the losses see; the photometric map (:meth:`correlate_photometric`)
        has no parameters and enters only the fused map.

        ``fft=True`` computes the positive maps with FFTs (several times faster on CPU for the large
        templates; the default conv form is what ONNX export traces). All-pairs maps always use FFTs.
        """
        templates, masks = self.project_ground(ground, ground_mask)
        fn = ncc_all_pairs_fft if all_pairs else (ncc_positive_fft if fft else ncc_positive)
        return [fn(f, t, m) for f, t, m in zip(sat_feats, templates, masks)]

    def correlate_photometric(self, ground, ground_mask, sat_rgb, fft: bool = False) -> torch.Tensor:
        """Zero-mean NCC ``[B, H_p, W_p]`` of the raw RGB bird's-eye view over the pooled satellite RGB
        (``encode_satellite``'s last map), at ``photometric_stride``."""
        bev = project_to_bev(ground, self.photo_grid)
        m = project_to_bev(ground_mask, self.photo_grid)
        return zncc_positive(sat_rgb, bev * m, m, fft=fft)

    def fuse(self, maps: list[torch.Tensor], photometric: torch.Tensor | None = None) -> torch.Tensor:
        """Sum of the level maps, each bilinearly resampled to the finest level's grid (centres align), plus
        ``photometric_weight`` times the photometric map resampled to that grid (a 2x finer map averages
        each 2x2 block, whose centres average to the coarse cell's centre)."""
        fine = maps[-1]
        out = fine
        extra = [(m, 1.0) for m in maps[:-1]]
        if photometric is not None:
            extra.append((photometric, float(self.cfg.photometric_weight)))
        for m, weight in extra:
            lead = m.shape[:-2]
            up = F.interpolate(m.reshape(-1, 1, *m.shape[-2:]), size=fine.shape[-2:], mode="bilinear",
                               align_corners=False)
            out = out + weight * up.reshape(*lead, *fine.shape[-2:])
        return out

    def match(self, ground, ground_mask, sat_feats, fft: bool = False) -> dict[str, torch.Tensor]:
        """Fused logits and probabilities ``[B, H, W]``; ``fft=True`` for CPU evaluation (conv form: export)."""
        sat_feats = list(sat_feats)
        if len(sat_feats) != self.n_sat_maps:
            raise ValueError(f"expected {self.n_sat_maps} satellite maps, got {len(sat_feats)}")
        photo = None
        if self.photometric:
            photo = self.correlate_photometric(ground, ground_mask, sat_feats[-1], fft=fft)
            sat_feats = sat_feats[:-1]
        logits = self.fuse(self.correlate(ground, ground_mask, sat_feats, fft=fft), photo)
        b = logits.shape[0]
        prob = torch.softmax(logits.reshape(b, -1) / self.log_temperature.exp(), dim=1).reshape_as(logits)
        return {"logits": logits, "prob": prob}

    def forward(self, ground, ground_mask, sat):
        return self.match(ground, ground_mask, self.encode_satellite(sat))
