"""The optional DINOv2 backbone: a ViT with the official checkpoints' parameter names, loaded from a local file.

The reference GeoDistill localizer puts a DPT-style decoder over a frozen DINOv2 ViT-B/14 (Oquab et al., 2023).
Nothing here downloads anything: a user who has an official checkpoint (``dinov2_vits14_pretrain.pth``,
``dinov2_vitb14_pretrain.pth``, ``dinov2_vitl14_pretrain.pth``, or a ``_reg4`` variant) sets

    model:
      backbone: dinov2
      dinov2_arch: vitb14          # vits14 / vitb14 / vitl14, with a "_reg" suffix for the register variants
      dinov2_weights: /path/to/dinov2_vitb14_pretrain.pth

and ``training.models.build_localizer`` loads it (a training checkpoint then holds the weights itself).
ViT-g/14 (SwiGLU feed-forward) is not supported.

Shapes: ``ViT.layer_maps(x [B, 3, H, W])`` with H and W multiples of 14 gives ``[B, D, H/14, W/14]`` per tapped block;
``vit_features`` takes any H, W (it resizes the image to the nearest multiple of 14), and ``DPTDecoder`` turns
those maps into ``{stride: [B, C, H // stride, W // stride]}`` at exact strides of the original image. The
localizer runs one ViT for both views, with a decoder each.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

PATCH_PX = 14
POS_GRID = 37  # official checkpoints were trained at 518 px: a 37 x 37 position grid
REGISTERS = 4  # the "_reg" variants' register tokens
ARCHS = {"vits14": (384, 12, 6), "vitb14": (768, 12, 12), "vitl14": (1024, 24, 16)}  # width, depth, heads


def parse_arch(name: str) -> dict:
    """``"vitb14_reg"`` -> ``{"embed_dim": 768, "depth": 12, "heads": 12, "registers": 4}``."""
    base, _, suffix = str(name).partition("_")
    if base not in ARCHS or suffix not in ("", "reg"):
        known = ", ".join(f"{a}, {a}_reg" for a in ARCHS)
        raise ValueError(f"unknown dinov2_arch {name!r} (one of {known}; ViT-g/14 is not supported)")
    dim, depth, heads = ARCHS[base]
    return {"embed_dim": dim, "depth": depth, "heads": heads, "registers": REGISTERS if suffix else 0}


class PatchEmbed(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.proj = nn.Conv2d(3, dim, PATCH_PX, stride=PATCH_PX)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(x)


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, k, v)
        return self.proj(out.transpose(1, 2).reshape(b, n, d))


class Mlp(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.fc1 = nn.Linear(dim, 4 * dim)
        self.fc2 = nn.Linear(4 * dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(F.gelu(self.fc1(x)))


class LayerScale(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.gamma = nn.Parameter(torch.full((dim,), 1e-5))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Block(nn.Module):
    """Pre-norm transformer block with layer scale (DINOv2's)."""

    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = Attention(dim, heads)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim)
        self.ls2 = LayerScale(dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x)))
        return x + self.ls2(self.mlp(self.norm2(x)))


class ViT(nn.Module):
    """DINOv2's ViT/14; ``state_dict()`` keys are those of the official checkpoints."""

    def __init__(self, embed_dim: int, depth: int, heads: int, registers: int = 0):
        super().__init__()
        self.embed_dim, self.depth, self.registers = embed_dim, depth, registers
        self.patch_embed = PatchEmbed(embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, embed_dim))
        self.pos_embed = nn.Parameter(torch.randn(1, 1 + POS_GRID**2, embed_dim) * 0.02)
        self.mask_token = nn.Parameter(torch.zeros(1, embed_dim))  # used by DINOv2's training only
        if registers:
            self.register_tokens = nn.Parameter(torch.zeros(1, registers, embed_dim))
        self.blocks = nn.ModuleList(Block(embed_dim, heads) for _ in range(depth))
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6)

    def position_embedding(self, h: int, w: int) -> torch.Tensor:
        """``[1, 1 + h * w, D]``: the class token's, then the 37 x 37 grid resampled (bicubic) to h x w."""
        cls_pos, grid = self.pos_embed[:, :1], self.pos_embed[:, 1:]
        grid = grid.reshape(1, POS_GRID, POS_GRID, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(h, w), mode="bicubic", align_corners=False)
        return torch.cat([cls_pos, grid.flatten(2).transpose(1, 2)], dim=1)

    def layer_maps(self, x: torch.Tensor, layers: tuple[int, ...]) -> list[torch.Tensor]:
        """Patch tokens after each block in ``layers`` (0-based), final-normed: ``[B, D, H/14, W/14]`` each."""
        b, _, hp, wp = x.shape
        h, w = hp // PATCH_PX, wp // PATCH_PX
        tokens = self.patch_embed(x).flatten(2).transpose(1, 2)
        tokens = torch.cat([self.cls_token.expand(b, -1, -1), tokens], dim=1) + self.position_embedding(h, w)
        if self.registers:
            tokens = torch.cat([tokens[:, :1], self.register_tokens.expand(b, -1, -1), tokens[:, 1:]], dim=1)
        skip = 1 + self.registers
        out = []
        for i, block in enumerate(self.blocks):
            tokens = block(tokens)
            if i in layers:
                patches = self.norm(tokens)[:, skip:]
                out.append(patches.transpose(1, 2).reshape(b, self.embed_dim, h, w))
        return out


def read_weights(path: str | Path) -> dict[str, torch.Tensor]:
    """The ViT state dict in a local DINOv2 checkpoint file (a plain state dict, or one wrapped under
    ``model`` / ``state_dict`` / ``teacher``, with ``backbone.`` or ``module.`` prefixes removed)."""
    if not str(path).strip():
        raise FileNotFoundError("model.dinov2_weights is empty; nothing is downloaded: point it at a local DINOv2 "
                                "checkpoint file")
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"DINOv2 weights not found: {path}; nothing is downloaded: point "
                                "model.dinov2_weights at a local checkpoint file")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("model", "state_dict", "teacher"):
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise ValueError(f"{path} does not hold a state dict of tensors")
    out = {}
    for key, value in obj.items():
        for prefix in ("module.", "backbone."):
            if key.startswith(prefix):
                key = key[len(prefix):]
        if not key.startswith("dino_head") and not key.startswith("ibot_head"):
            out[key] = value
    return out


def load_weights(vit: ViT, path: str | Path) -> None:
    """Load a local DINOv2 checkpoint into ``vit``; a clear error when it is another architecture."""
    state = read_weights(path)
    if any(".w12." in k for k in state):
        raise ValueError(f"{path} is a ViT-g/14 (SwiGLU) checkpoint, which is not supported")
    want = vit.state_dict()
    missing = sorted(set(want) - set(state))
    unexpected = sorted(set(state) - set(want))
    wrong = sorted(k for k in set(want) & set(state) if want[k].shape != state[k].shape)
    if missing or unexpected or wrong:
        def few(keys):
            return ", ".join(keys[:4]) + (" ..." if len(keys) > 4 else "") or "none"

        width = state["cls_token"].shape[-1] if "cls_token" in state else "?"
        raise ValueError(f"{path} does not fit model.dinov2_arch (width {vit.embed_dim}, depth {vit.depth}, "
                         f"{vit.registers} registers; the file's width is {width}): missing {few(missing)}; "
                         f"unexpected {few(unexpected)}; other shape {few(wrong)}")
    vit.load_state_dict(state)


class Residual(nn.Module):
    """DPT's residual conv unit: x + conv(relu(conv(relu(x))))."""

    def __init__(self, c: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 3, padding=1)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv2(F.relu(self.conv1(F.relu(x))))


def tapped_blocks(depth: int) -> tuple[int, ...]:
    """Four evenly spaced blocks whose outputs the decoder reads (ViT-B: 2, 5, 8, 11; DPT's choice)."""
    return tuple(sorted({max(0, depth * k // 4 - 1) for k in (1, 2, 3, 4)}))


def vit_features(vit: ViT, x: torch.Tensor, frozen: bool) -> list[torch.Tensor]:
    """``x [B, 3, H, W]`` resized to the nearest multiple of 14 per side, then ``vit.layer_maps`` of the tapped
    blocks. ``frozen``: without autograd (the reference's frozen backbone)."""
    h, w = x.shape[-2:]
    size = (((h + PATCH_PX // 2) // PATCH_PX) * PATCH_PX, ((w + PATCH_PX // 2) // PATCH_PX) * PATCH_PX)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if frozen:
        with torch.no_grad():
            return vit.layer_maps(x, tapped_blocks(vit.depth))
    return vit.layer_maps(x, tapped_blocks(vit.depth))


class DPTDecoder(nn.Module):
    """ViT block outputs reassembled at 4x, 2x, 1x and 1/2x the patch grid, fused coarse to fine (DPT, Ranftl et
    al. 2021, simplified), then resampled to each requested stride of the input image.

    ``forward(maps, (H, W)) -> {stride: [B, channels, H // stride, W // stride]}``; ``out_channels`` maps each
    stride to ``channels`` (the interface of ``blocks.UNetEncoder``).
    """

    SCALES = ((4, 1), (2, 1), (1, 1), (1, 2))  # (numerator, denominator) per tapped block, shallow to deep

    def __init__(self, embed_dim: int, n_maps: int, strides: tuple[int, ...], channels: int):
        super().__init__()
        self.scales = self.SCALES[-n_maps:]
        self.reassemble = nn.ModuleList(nn.Conv2d(embed_dim, channels, 1) for _ in range(n_maps))
        self.fuse = nn.ModuleList(Residual(channels) for _ in range(n_maps))
        self.heads = nn.ModuleDict({str(s): nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(),
                                                          nn.Conv2d(channels, channels, 1)) for s in strides})
        self.out_channels = {int(s): channels for s in strides}

    def forward(self, maps: list[torch.Tensor], size_hw) -> dict[int, torch.Tensor]:
        h, w = size_hw
        fused = None
        for i in reversed(range(len(maps))):  # deepest first
            num, den = self.scales[i]
            size = ((maps[i].shape[-2] * num + den - 1) // den, (maps[i].shape[-1] * num + den - 1) // den)
            r = F.interpolate(self.reassemble[i](maps[i]), size=size, mode="bilinear", align_corners=False)
            if fused is not None:
                r = r + F.interpolate(fused, size=size, mode="bilinear", align_corners=False)
            fused = self.fuse[i](r)
        return {int(s): head(F.interpolate(fused, size=(h // int(s), w // int(s)), mode="bilinear",
                                           align_corners=False)) for s, head in self.heads.items()}
