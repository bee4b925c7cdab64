"""Shared fixtures for the training tests: a tiny flat-world dataset and a tiny config."""

import pytest

from training.config import TrainConfig, config_from_dict


@pytest.fixture(scope="session")
def flat_root(tmp_path_factory):
    from training.datasets.flatworld import write_flat_world_dataset

    root = tmp_path_factory.mktemp("flat")
    write_flat_world_dataset(root, n_panoramas=28, n_test=4, world_size_px=768, sat_size_px=160, pano_hw=(64, 128))
    return root


def tiny_config(root, stage: str = "weak", **sections) -> TrainConfig:
    values = {
        "stage": stage,
        "model": {"sat_size_px": 64, "meters_per_pixel": 0.4, "ground_height_px": 32, "ground_width_px": 64,
                  "sat_channels": [8, 8, 8, 8], "ground_channels": [8, 8, 8], "feature_dim": [8, 8]},
        "data": {"root": str(root), "augment_color": False},
        "optim": {"batch_size": 4, "steps": 30, "lr": 3e-3, "warmup_steps": 2},
        "orientation": {"sat_size_px": 32, "channels": [8, 8], "max_center_offset_m": 1.0},
        "run": {"threads": 2, "checkpoint_every_s": 0, "log_every_steps": 5},
    }
    for k, v in sections.items():
        values.setdefault(k, {}).update(v)
    return config_from_dict(values)


@pytest.fixture
def tiny():
    return tiny_config
