"""A class-balanced sampler that is also distributed-aware: each process draws its own share of one draw."""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DistributedSampler


class DistributedWeightedSampler(DistributedSampler):
    """WeightedRandomSampler for one or many processes.

    torch's WeightedRandomSampler is not distributed-aware (every rank would draw the same or
    overlapping batches), and Lightning's DistributedSamplerWrapper re-shards a fixed draw. Here all
    ranks make the same seeded draw of `num_samples` indices per epoch and rank r keeps positions
    r, r + world, r + 2 world, ...: the shares are disjoint, and each is balanced in expectation.
    Subclassing DistributedSampler keeps Lightning from wrapping it again.
    """

    def __init__(
        self,
        weights: torch.Tensor,
        num_samples: int | None = None,
        num_replicas: int = 1,
        rank: int = 0,
        seed: int = 0,
        replacement: bool = True,
    ):
        self.weights = torch.as_tensor(weights, dtype=torch.double)
        self.total = int(num_samples or len(self.weights))
        self.num_replicas, self.rank, self.seed, self.epoch = int(num_replicas), int(rank), int(seed), 0
        self.replacement = replacement
        self.num_samples = self.total // self.num_replicas
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle, self.drop_last, self.dataset = True, True, None

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator().manual_seed(self.seed + self.epoch)
        draw = torch.multinomial(self.weights, self.total_size, self.replacement, generator=g)
        return iter(draw[self.rank : self.total_size : self.num_replicas].tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)
