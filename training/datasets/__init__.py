"""Datasets returning dict samples, and the batch sampler that keeps satellite patches apart."""

from training.datasets.sampler import NonOverlappingBatchSampler
from training.datasets.vigor import VigorDataset

__all__ = ["NonOverlappingBatchSampler", "VigorDataset", "build_dataset"]


def build_dataset(data_cfg, model_cfg, split: str | None = None, train: bool | None = None):
    """Dataset for ``data_cfg.kind`` ("vigor" covers the synthetic worlds) and ``split``."""
    split = split or data_cfg.split
    train = (split == "train") if train is None else train
    if data_cfg.kind == "vigor":
        return VigorDataset(data_cfg.root, split=split, mode=data_cfg.vigor_mode, cities=data_cfg.cities,
                            sat_size_px=model_cfg.sat_size_px, meters_per_pixel=model_cfg.meters_per_pixel,
                            canvas_hw=(model_cfg.ground_height_px, model_cfg.ground_width_px),
                            positives_only=data_cfg.positives_only, augment_color=train and data_cfg.augment_color,
                            val_fraction=data_cfg.val_fraction, augment_mode=data_cfg.augment_mode,
                            level_attitude=data_cfg.level_attitude)
    if data_cfg.kind == "kitti":
        from training.datasets.kitti import KittiDataset

        if data_cfg.level_attitude:
            raise ValueError("data.level_attitude levels VIGOR-layout panoramas by <city>/attitude.json; "
                             "the KITTI layout has no such file")

        return KittiDataset(data_cfg.root, split=split, sat_size_px=model_cfg.sat_size_px,
                            meters_per_pixel=model_cfg.meters_per_pixel,
                            canvas_hw=(model_cfg.ground_height_px, model_cfg.ground_width_px))
    raise ValueError(f"unknown dataset kind {data_cfg.kind!r} (vigor | kitti)")
