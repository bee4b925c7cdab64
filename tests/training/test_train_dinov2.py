"""The optional DINOv2 backbone: official parameter names, loading a local file (never a download), the localizer
built on it, its frozen ViT, checkpoints that need no weights file, a training run and the ONNX export."""

from __future__ import annotations

import pytest
import torch

from training.checkpoint import save_checkpoint
from training.config import ModelConfig, TrainConfig
from training.engine import train
from training.models import build_localizer, dinov2, load_checkpoint

TINY = "tiny14"


@pytest.fixture
def tiny_arch(monkeypatch):
    """A 2-block, 32-wide ViT/14 (same layout as the official ones) so that tests run in seconds."""
    monkeypatch.setitem(dinov2.ARCHS, TINY, (32, 2, 2))
    return TINY


def _weights_file(tmp_path, arch: str, seed: int = 0, wrap=None):
    torch.manual_seed(seed)
    vit = dinov2.ViT(**dinov2.parse_arch(arch))
    state = vit.state_dict()
    if wrap:
        state = wrap(state)
    path = tmp_path / f"{arch}_{seed}.pth"
    torch.save(state, path)
    return path, vit


def _cfg(arch: str, weights="", **kw) -> ModelConfig:
    values = dict(sat_size_px=64, meters_per_pixel=0.4, ground_height_px=32, ground_width_px=64, feature_dim=(8, 8),
                  backbone="dinov2", dinov2_arch=arch, dinov2_weights=str(weights), dinov2_channels=8,
                  input_norm="imagenet")
    values.update(kw)
    return ModelConfig(**values)


def test_arch_names():
    assert dinov2.parse_arch("vits14") == {"embed_dim": 384, "depth": 12, "heads": 6, "registers": 0}
    assert dinov2.parse_arch("vitb14_reg") == {"embed_dim": 768, "depth": 12, "heads": 12, "registers": 4}
    assert dinov2.parse_arch("vitl14")["depth"] == 24
    for bad in ("vitg14", "vitb16", "vitb14_x", ""):
        with pytest.raises(ValueError, match="unknown dinov2_arch"):
            dinov2.parse_arch(bad)
    assert dinov2.tapped_blocks(12) == (2, 5, 8, 11)
    assert dinov2.tapped_blocks(24) == (5, 11, 17, 23)
    assert dinov2.tapped_blocks(2) == (0, 1)


def test_vit_s14_has_the_official_parameter_names_and_shapes():
    names = {k: tuple(v.shape) for k, v in dinov2.ViT(**dinov2.parse_arch("vits14")).state_dict().items()}
    expected = {
        "cls_token": (1, 1, 384), "pos_embed": (1, 1370, 384), "mask_token": (1, 384),
        "patch_embed.proj.weight": (384, 3, 14, 14), "patch_embed.proj.bias": (384,),
        "blocks.0.norm1.weight": (384,), "blocks.0.norm1.bias": (384,),
        "blocks.0.attn.qkv.weight": (1152, 384), "blocks.0.attn.qkv.bias": (1152,),
        "blocks.0.attn.proj.weight": (384, 384), "blocks.0.attn.proj.bias": (384,), "blocks.0.ls1.gamma": (384,),
        "blocks.0.norm2.weight": (384,), "blocks.0.norm2.bias": (384,),
        "blocks.0.mlp.fc1.weight": (1536, 384), "blocks.0.mlp.fc1.bias": (1536,),
        "blocks.0.mlp.fc2.weight": (384, 1536), "blocks.0.mlp.fc2.bias": (384,), "blocks.0.ls2.gamma": (384,),
        "norm.weight": (384,), "norm.bias": (384,),
    }
    for key, shape in expected.items():
        assert names.pop(key) == shape, key
    assert all(k.startswith("blocks.") and 1 <= int(k.split(".")[1]) <= 11 for k in names), sorted(names)[:5]
    assert len(names) == 11 * 14  # blocks 1-11, 14 tensors each like block 0
    reg = dinov2.ViT(**dinov2.parse_arch("vits14_reg")).state_dict()
    assert tuple(reg["register_tokens"].shape) == (1, 4, 384)


def test_position_embedding_at_the_native_grid_is_the_stored_one(tiny_arch):
    vit = dinov2.ViT(**dinov2.parse_arch(tiny_arch))
    torch.testing.assert_close(vit.position_embedding(37, 37), vit.pos_embed.detach(), atol=1e-5, rtol=0)
    assert tuple(vit.position_embedding(3, 5).shape) == (1, 16, 32)


def test_layer_maps_and_decoder_strides(tiny_arch):
    for arch in (tiny_arch, tiny_arch + "_reg"):  # registers are dropped from the maps
        vit = dinov2.ViT(**dinov2.parse_arch(arch)).eval()
        maps = vit.layer_maps(torch.rand(2, 3, 42, 70), (0, 1))
        assert [tuple(m.shape) for m in maps] == [(2, 32, 3, 5)] * 2
        maps = dinov2.vit_features(vit, torch.rand(2, 3, 100, 200), frozen=True)  # any size: resized to 98 x 196
        assert tuple(maps[0].shape) == (2, 32, 7, 14) and not maps[0].requires_grad
        dec = dinov2.DPTDecoder(32, len(maps), (8, 4), 16)
        out = dec(maps, (100, 200))
        assert {s: tuple(f.shape) for s, f in out.items()} == {8: (2, 16, 12, 25), 4: (2, 16, 25, 50)}


def test_read_weights_unwraps_training_checkpoints_and_never_downloads(tmp_path, tiny_arch):
    wrapped, vit = _weights_file(tmp_path, tiny_arch, wrap=lambda sd: {
        "teacher": {**{f"backbone.{k}": v for k, v in sd.items()}, "dino_head.mlp.0.weight": torch.zeros(2, 2)}})
    state = dinov2.read_weights(wrapped)
    assert set(state) == set(vit.state_dict())
    with pytest.raises(FileNotFoundError, match="nothing is downloaded"):
        dinov2.read_weights(tmp_path / "dinov2_vitb14_pretrain.pth")
    with pytest.raises(FileNotFoundError, match="dinov2_weights is empty"):
        dinov2.read_weights("")
    torch.save({"a": 1}, tmp_path / "junk.pth")
    with pytest.raises(ValueError, match="state dict of tensors"):
        dinov2.read_weights(tmp_path / "junk.pth")


def test_build_localizer_loads_the_file_and_refuses_another_arch(tmp_path, tiny_arch, monkeypatch):
    path, vit = _weights_file(tmp_path, tiny_arch, seed=3)
    loc = build_localizer(_cfg(tiny_arch, path))
    for key, value in vit.state_dict().items():
        torch.testing.assert_close(loc.vit.state_dict()[key], value, atol=0, rtol=0)
    with pytest.raises(FileNotFoundError):
        build_localizer(_cfg(tiny_arch, ""))
    with pytest.raises(ValueError, match="does not fit model.dinov2_arch"):
        build_localizer(_cfg(tiny_arch + "_reg", path))  # the file has no register tokens
    monkeypatch.setitem(dinov2.ARCHS, "wide14", (48, 2, 2))
    with pytest.raises(ValueError, match="file's width is 32"):
        build_localizer(_cfg("wide14", path))
    swiglu, _ = _weights_file(tmp_path, tiny_arch, seed=4,
                              wrap=lambda sd: {**sd, "blocks.0.mlp.w12.weight": torch.zeros(1)})
    with pytest.raises(ValueError, match="SwiGLU"):
        build_localizer(_cfg(tiny_arch, swiglu))


def test_frozen_vit_gets_no_gradient_and_the_decoders_do(tmp_path, tiny_arch):
    path, _ = _weights_file(tmp_path, tiny_arch)
    for frozen in (True, False):
        loc = build_localizer(_cfg(tiny_arch, path, dinov2_frozen=frozen)).train()
        feats = loc.encode_satellite(torch.rand(2, 3, 64, 64))
        assert [tuple(f.shape) for f in feats] == [(2, 8, 8, 8), (2, 8, 16, 16)]
        out = loc.match(torch.rand(2, 3, 32, 64), torch.ones(2, 1, 32, 64), feats)
        assert tuple(out["prob"].shape) == (2, 16, 16)
        out["logits"].square().sum().backward()
        vit_grads = [p.grad for p in loc.vit.parameters()]
        assert all(g is None for g in vit_grads) if frozen else any(g is not None for g in vit_grads)
        assert all(p.grad is not None for p in loc.sat_encoder.parameters())
        assert all(p.grad is not None for p in loc.ground_encoder.parameters())


def test_checkpoint_carries_the_vit_and_needs_no_weights_file(tmp_path, tiny_arch):
    path, _ = _weights_file(tmp_path, tiny_arch, seed=5)
    cfg = TrainConfig(model=_cfg(tiny_arch, path))
    loc = build_localizer(cfg.model).eval()
    save_checkpoint(tmp_path / "loc.pt", kind="localizer", model=loc, cfg=cfg, step=1)
    path.unlink()
    again = load_checkpoint(tmp_path / "loc.pt")["localizer"]
    sat, ground, mask = torch.rand(1, 3, 64, 64), torch.rand(1, 3, 32, 64), torch.ones(1, 1, 32, 64)
    with torch.no_grad():
        torch.testing.assert_close(again(ground, mask, sat)["logits"], loc(ground, mask, sat)["logits"])


def test_weak_training_runs_on_the_dinov2_backbone(flat_root, tiny, tmp_path, tiny_arch):
    path, vit = _weights_file(tmp_path, tiny_arch, seed=6)
    cfg = tiny(flat_root, model={"backbone": "dinov2", "dinov2_arch": tiny_arch, "dinov2_weights": str(path),
                                 "dinov2_channels": 8, "input_norm": "imagenet"})
    summary = train(cfg, tmp_path / "run", max_steps=3, progress=False)
    assert summary["step"] == 3 and summary["loss_last"] is not None
    trained = load_checkpoint(tmp_path / "run" / "last.pt")["localizer"]
    for key, value in vit.state_dict().items():  # frozen: the ViT is the file's, unchanged
        torch.testing.assert_close(trained.vit.state_dict()[key], value, atol=0, rtol=0)


def test_onnx_export_of_a_dinov2_localizer_matches_torch(tmp_path, tiny_arch):
    pytest.importorskip("onnxruntime")
    from training.export import ExportConfig, export_checkpoints

    path, _ = _weights_file(tmp_path, tiny_arch, seed=7)
    cfg = TrainConfig(model=_cfg(tiny_arch, path, sat_size_px=128, ground_height_px=64, ground_width_px=128))
    save_checkpoint(tmp_path / "student.pt", kind="localizer", model=build_localizer(cfg.model).eval(), cfg=cfg,
                    step=1)
    # the satellite graph is dynamic (the runtime searches a larger patch than training saw): checked at 128 and 192
    report = export_checkpoints(tmp_path / "student.pt", None, tmp_path / "model", {"search_size_px": 192},
                                ExportConfig(max_sat_size_px=256, write_pt2=False))
    checks = report["verification"]
    assert sorted(checks) == ["onnxruntime/prob@128px", "onnxruntime/prob@192px"]
    assert all(c["max_abs_diff"] <= 1e-4 and c["same_argmax"] for c in checks.values()), checks
