"""Every shipped training config loads (no unknown or mistyped field) and says what its name promises."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import load_config

CONFIGS = sorted((Path(__file__).resolve().parents[2] / "training" / "configs").glob("*.yaml"))


def test_the_config_folder_is_not_empty():
    assert len(CONFIGS) >= 8


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_shipped_config_loads(path):
    cfg = load_config(path)
    assert cfg.stage in ("weak", "distill", "orientation")
    assert path.name.split("_")[0] in (cfg.stage, "control")  # weak_*.yaml -> weak, control_* -> weak loss
    assert cfg.model.meters_per_pixel == 0.2 and cfg.model.sat_size_px == 320


def test_half_turn_config_enables_the_half_turn_teacher():
    assert load_config(CONFIGS[0].parent / "distill_halfturn_cpu.yaml").distill.teacher_half_turn
    assert not load_config(CONFIGS[0].parent / "distill_cpu.yaml").distill.teacher_half_turn


def test_unknown_field_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("stage: distill\ndistill:\n  teacher_half_trun: true\n")
    with pytest.raises(ValueError, match="unknown config field distill.teacher_half_trun"):
        load_config(bad)


def test_wide_configs_change_only_what_their_comment_says():
    folder = CONFIGS[0].parent
    base = load_config(folder / "distill_halfturn_cpu.yaml")
    wide = load_config(folder / "distill_halfturn_wide_cpu.yaml")
    assert tuple(base.distill.fov_deg) == (180.0, 240.0) and tuple(wide.distill.fov_deg) == (90.0, 240.0)
    wide.distill.fov_deg = base.distill.fov_deg
    assert wide == base
    base, wide = load_config(folder / "orientation_cpu.yaml"), load_config(folder / "orientation_wide_cpu.yaml")
    assert (base.orientation.sat_size_px, wide.orientation.sat_size_px) == (128, 256)
    wide.orientation.sat_size_px = base.orientation.sat_size_px
    assert wide == base


def test_dinov2_config_asks_for_the_reference_backbone_and_a_local_file():
    cfg = load_config(CONFIGS[0].parent / "weak_dinov2_gpu.yaml")
    assert (cfg.model.backbone, cfg.model.dinov2_arch, cfg.model.dinov2_frozen) == ("dinov2", "vitb14", True)
    assert cfg.model.input_norm == "imagenet" and cfg.model.dinov2_weights == ""  # the user's --set, never a URL


def test_photometric_teacher_config_changes_only_the_photometric_fields():
    folder = CONFIGS[0].parent
    base = load_config(folder / "distill_halfturn_cpu.yaml")
    photo = load_config(folder / "distill_halfturn_photo_cpu.yaml")
    assert (photo.model.photometric_weight, photo.model.photometric_stride) == (1.0, 4)
    assert photo.distill.teacher_photometric_weight == 1.0 and base.distill.teacher_photometric_weight == 0.0
    photo.model.photometric_weight, photo.model.photometric_stride = 0.0, base.model.photometric_stride
    photo.distill.teacher_photometric_weight = 0.0
    assert photo == base
