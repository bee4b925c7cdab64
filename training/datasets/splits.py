"""Split files of a VIGOR-layout dataset: ``splits/<city>/{train,val,test}.txt``."""

from __future__ import annotations

from pathlib import Path


def write_splits(split_dir: str | Path, train_lines: list[str], holdout_lines: list[str]) -> Path:
    """Write ``train.txt`` from ``train_lines`` and ``val.txt`` / ``test.txt`` (the same) from ``holdout_lines``,
    one sample per line with a trailing newline."""
    split_dir = Path(split_dir)
    split_dir.mkdir(parents=True, exist_ok=True)
    (split_dir / "train.txt").write_text("\n".join(train_lines) + "\n")
    (split_dir / "val.txt").write_text("\n".join(holdout_lines) + "\n")
    (split_dir / "test.txt").write_text("\n".join(holdout_lines) + "\n")
    return split_dir
