"""Batches whose satellite patches never overlap (the weak loss treats every other patch as a negative)."""

from __future__ import annotations

import numpy as np
from torch.utils.data import Sampler


class NonOverlappingBatchSampler(Sampler):
    """Yields index lists of ``batch_size`` samples whose patch centres are at least ``separation_m`` apart
    (per axis, i.e. the square patches do not overlap) unless they come from different cities / worlds.

    Args:
        centers_m: ``[N, 2]`` patch centres (east, north) in a per-city frame; city_ids ``[N]``.
        separation_m: scalar or ``[N]`` patch widths; two samples conflict when both axis distances are
            below the larger of their widths.
        hard_negatives: fill each batch with the nearest non-conflicting patches (harder negatives).
        rank / world_size: DDP sharding (each rank gets every ``world_size``-th batch).
    """

    def __init__(self, centers_m, city_ids, batch_size: int, separation_m, seed: int = 0,
                 hard_negatives: bool = False, drop_last: bool = True, rank: int = 0, world_size: int = 1):
        self.centers = np.asarray(centers_m, dtype=np.float64)
        self.cities = np.asarray(city_ids)
        self.batch_size = int(batch_size)
        self.sep = np.broadcast_to(np.asarray(separation_m, dtype=np.float64), (len(self.centers),)).copy()
        self.seed = seed
        self.hard = hard_negatives
        self.drop_last = drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self._cache = None
        if self.batch_size < 2:
            raise ValueError("batch_size must be >= 2 for the contrastive loss")

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def conflicts(self, i: int, members: list[int]) -> bool:
        if not members:
            return False
        m = np.asarray(members)
        same = self.cities[m] == self.cities[i]
        d = np.abs(self.centers[m] - self.centers[i])
        lim = np.maximum(self.sep[m], self.sep[i])
        return bool(np.any(same & (d[:, 0] < lim) & (d[:, 1] < lim)))

    def _batches(self) -> list[list[int]]:
        if self._cache is not None and self._cache[0] == self.epoch:
            return self._cache[1]
        rng = np.random.default_rng((self.seed, self.epoch))
        pending = [int(i) for i in rng.permutation(len(self.centers))]
        batches = []
        while pending:
            batch, rest = [pending[0]], []
            candidates = pending[1:]
            if self.hard and candidates:
                d = np.linalg.norm(self.centers[candidates] - self.centers[batch[0]], axis=1)
                d[self.cities[candidates] != self.cities[batch[0]]] += 1e9
                candidates = [candidates[k] for k in np.argsort(d, kind="stable")]
            for i in candidates:
                if len(batch) < self.batch_size and not self.conflicts(i, batch):
                    batch.append(i)
                else:
                    rest.append(i)
            if len(batch) == self.batch_size or (not self.drop_last and len(batch) >= 2):
                batches.append(batch)
            pending = rest  # an incomplete batch cannot grow: its members are dropped for this epoch
        if not batches:
            raise ValueError(f"cannot form one batch of {self.batch_size} non-overlapping patches")
        usable = len(batches) // self.world_size * self.world_size  # equal length on every DDP rank
        mine = batches[:usable][self.rank:: self.world_size]
        self._cache = (self.epoch, mine)
        return mine

    def __iter__(self):
        return iter(self._batches())

    def __len__(self) -> int:
        return len(self._batches())
