"""Write an output folder atomically: build it in a temporary sibling, then rename it into place."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .config import SimError


@contextmanager
def atomic_dir(out, what: str, nested: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``out``; when the block ends normally it replaces ``out``, and when it
    raises, nothing is left behind (an interrupted run never leaves a half-made ``out``).

    The holder is ``<parent>/.<name>.tmp-<pid>``. With ``nested=True`` the yielded path is ``<holder>/<name>``
    and is not created (for writers that make their folder themselves and name files after it, like rosbag2).
    ``what`` names the output in the :class:`SimError` raised when the holder cannot be made.
    """
    out = Path(out)
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        holder = out.parent / f".{out.name}.tmp-{os.getpid()}"
        if holder.exists():
            shutil.rmtree(holder)
        holder.mkdir()
    except OSError as exc:
        raise SimError(f"cannot write {what} to {out}: {exc.strerror or exc}") from None
    tmp = holder / out.name if nested else holder
    try:
        yield tmp
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(holder, ignore_errors=True)
