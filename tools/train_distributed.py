"""What ``--distributed`` adds to ``tools.train``: data-parallel training on MPI.

    mpiexec -n K python -m tools.train --distributed [the usual options]

- ``--batch-size`` stays the global batch: each of the K ranks trains on
  ``batch_size / K`` samples of every step (a ``DistributedSampler`` shard), and
  ``DistributedDataParallel`` averages the gradients, so a step sees the same number
  of samples as without ``--distributed`` and the learning rate needs no change.
- Initialisation and the sampler's shuffle agree on all ranks (same seed; DDP also
  broadcasts rank 0's parameters).  Dropout and augmentation must differ: rank 0
  keeps the single-process random stream, rank r > 0 reseeds it at each batch from
  (seed, r, epoch, batch), so ``--resume`` reproduces every rank's draws exactly.
- Only rank 0 prints, shows the progress bar and writes metrics, plots and
  checkpoints; the others' standard output goes to /dev/null (errors still show).
  The per-batch loss/accuracy totals are summed over the ranks, and a Ctrl-C on
  any rank stops all of them after the same batch.
- Evaluation: each rank scores a strided shard of the test set with the unwrapped
  model, after taking rank 0's buffers (BatchNorm statistics, which the checkpoint
  holds too); the totals are summed over the ranks.
- With one rank (``mpiexec -n 1``) the run is the same as without ``--distributed``.
- An exception or an error exit on any rank prints that rank's error and aborts all
  ranks (``MPI.COMM_WORLD.Abort``), so none is left waiting.
"""
import math
import os
import sys

import numpy as np

import autograd as ag
from autograd import data as D


def guarded(main, argv):
    """Run ``main(argv)``; an error exit on this rank aborts every rank (an uncaught
    exception already does, through the hook ``init_process_group`` installs)."""
    import nn.distributed as dist
    try:
        return main(argv)
    except SystemExit as e:
        if e.code in (None, 0) or not dist.is_initialized():
            raise
        dist.abort(str(e.code))


class DistributedRun:
    """The rank's part of a ``--distributed`` run; ``tools.train.run`` calls it."""

    def __init__(self, args):
        import nn.distributed as dist
        try:
            dist.init_process_group()
        except RuntimeError as e:
            raise SystemExit(f"error: --distributed: {e}") from None
        self.dist = dist
        self.rank, self.world_size = dist.get_rank(), dist.get_world_size()
        self.seed = args.seed
        if args.batch_size % self.world_size:
            # Every rank finds this alike, so each leaves the group and exits with the
            # message: an MPI abort could end the run before any rank's message got out.
            dist.destroy_process_group()
            raise SystemExit(f"[rank {self.rank}] error: --batch-size {args.batch_size} (the global "
                             f"batch) must divide by the {self.world_size} ranks")
        self.writer = self.rank == 0
        if not self.writer:
            args.no_progress = True
            sys.stdout = open(os.devnull, "w")
        self.sampler = None

    def train_loader(self, dataset, batch_size, generator):
        """The rank's shard in batches of ``batch_size / K``; with one rank, the
        single-process loader itself."""
        if self.world_size == 1:
            return D.DataLoader(dataset, batch_size=batch_size, shuffle=True, generator=generator)
        self.sampler = D.DistributedSampler(dataset, self.world_size, self.rank, shuffle=True, seed=self.seed)
        return D.DataLoader(dataset, batch_size=batch_size // self.world_size, sampler=self.sampler)

    def wrap(self, model):
        from nn.parallel import DistributedDataParallel
        return DistributedDataParallel(model)

    def set_epoch(self, epoch):
        if self.sampler is not None:
            self.sampler.set_epoch(epoch)

    def seed_batch(self, epoch, batch):
        """Ranks > 0 draw their own dropout/augmentation, reproducible per batch."""
        if self.rank > 0:
            mixed = np.random.SeedSequence([self.seed, self.rank, epoch, batch]).generate_state(1)[0]
            ag.manual_seed(int(mixed))

    def batch_totals(self, loss_sum, correct, seen):
        """(loss_sum, correct, seen) of one batch summed over the ranks."""
        totals = np.array([loss_sum, correct, seen], np.float64)
        self.dist.all_reduce(totals)
        return float(totals[0]), int(totals[1]), int(totals[2])

    def any(self, flag):
        """Whether ``flag`` is set on any rank (all ranks must ask together)."""
        flags = np.array([flag], np.int64)
        self.dist.all_reduce(flags, op=self.dist.ReduceOp.MAX)
        return bool(flags[0])

    def test_loader(self, dataset, batch_size):
        """Every K-th test sample from this rank's position, in batches of batch_size / K."""
        shard = D.Subset(dataset, np.arange(self.rank, len(dataset), self.world_size))
        return D.DataLoader(shard, batch_size=math.ceil(batch_size / self.world_size))

    def evaluate(self, evaluate, model, loader, limit):
        """``evaluate(model, loader, limit)`` on this rank's shard, combined over the ranks."""
        if self.world_size == 1:
            return evaluate(model, loader, limit)
        self.dist.broadcast_coalesced(list(model.buffers()))
        loss, acc = evaluate(model, loader, limit)
        seen = len(loader.dataset) if limit is None else min(len(loader.dataset), limit * loader.batch_size)
        totals = np.array([loss * seen, acc * seen, seen], np.float64)
        self.dist.all_reduce(totals)
        return totals[0] / max(totals[2], 1), totals[1] / max(totals[2], 1)
