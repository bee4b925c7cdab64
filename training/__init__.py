"""training: PyTorch models, datasets, the weak base training, GeoDistill distillation, the orientation
network, evaluation and export.  Nothing in ``geodistill_ros`` imports this package."""
