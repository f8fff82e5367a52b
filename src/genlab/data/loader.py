"""The training-batch iterator: a whole batch per tensor index, in an order that is a pure
function of (seed, epoch), resumable mid-epoch.

Why not a DataLoader with a RandomSampler: its order comes from the global RNG when the
iterator is created, and Lightning restarts a non-stateful loader from the top of the epoch
after a mid-epoch resume, so a resumed run would see other batches than an uninterrupted
one. Here the DataModule saves (epoch, batches done) in every checkpoint and the loader
continues exactly where the killed run stopped. Under DDP each rank takes every
world_size-th index of the same permutation (tail dropped, so ranks agree on the length).
"""

from collections.abc import Iterator

import torch
import torch.distributed as dist
from torch import Tensor


class EpochBatches:
    def __init__(self, data: Tensor, labels: Tensor, batch_size: int, seed: int, shuffle: bool = True) -> None:
        self.data, self.labels = data, labels
        self.batch_size, self.seed, self.shuffle = batch_size, seed, shuffle
        self.epoch = 0  # the epoch the next __iter__ serves
        self.skip_batches = 0  # batches of that epoch already trained (set on resume)

    @staticmethod
    def _rank_world() -> tuple[int, int]:
        if dist.is_available() and dist.is_initialized():
            return dist.get_rank(), dist.get_world_size()
        return 0, 1

    def _indices(self, epoch: int) -> Tensor:
        n = len(self.data)
        order = (
            torch.randperm(n, generator=torch.Generator().manual_seed(self.seed + epoch))
            if self.shuffle
            else torch.arange(n)
        )
        rank, world = self._rank_world()
        return order[: n - n % world][rank::world]

    def __len__(self) -> int:
        _, world = self._rank_world()
        return -(-(len(self.data) // world) // self.batch_size)

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        epoch, skip = self.epoch, self.skip_batches
        self.epoch, self.skip_batches = epoch + 1, 0
        for idx in self._indices(epoch).split(self.batch_size)[skip:]:
            yield self.data[idx], self.labels[idx]

    def resume_at(self, epoch: int, batches_done: int) -> None:
        self.epoch, self.skip_batches = epoch, batches_done
