"""Train a model-zoo network on a data set, with progress bars, metrics and checkpoints.

    python -m tools.train                                   # spiral MLP, no files needed
    python -m tools.train --model lenet5 --dataset mnist --data-dir ../shared/data/mnist \
        --epochs 3 --optimizer sgd --lr 0.05 --momentum 0.9 --scheduler onecycle

Each epoch: a tqdm bar with live loss/accuracy, an evaluation on the test split, a
checkpoint (``--checkpoint``, default OUT/checkpoint.safetensors), a row in
OUT/metrics.csv and (with matplotlib) OUT/metrics.png.  The loader's share of the
epoch time is printed.  ``--resume CKPT`` continues a run exactly as if it had never
stopped: the checkpoint holds the model, optimizer, scheduler, the random generators'
states and, after Ctrl-C, the position inside the epoch.  Ctrl-C finishes the current
batch, writes the checkpoint and exits (a second Ctrl-C aborts at once).
``mpiexec -n K python -m tools.train --distributed ...`` trains data-parallel on K
processes (see tools/train_distributed.py); ``--monitor [N]`` records per-layer
statistics (nn.Monitor) and writes their pictures each epoch.
"""
import csv
import inspect
import os
import signal
import sys
import time

import numpy as np

import autograd as ag
import optim
from autograd import data as D
from autograd.profiler import profile, record_function
from autograd.viz import timeline
from optim import lr_scheduler as S
from tools.train_distributed import DistributedRun, guarded
from tools.train_options import DATASETS, PLACE_OPTIONS, RUN_OPTIONS, check_writable, parse_args, resume_hint

# -- building blocks -------------------------------------------------------------------
def load_data(args):
    classes, shape, mean, std = DATASETS[args.dataset]
    if args.dataset == "spiral":
        return D.spiral(train=True), D.spiral(train=False)
    if not args.data_dir:
        raise SystemExit(f"error: --dataset {args.dataset} needs --data-dir (a folder with its files); "
                         "run without --dataset to train on the bundled spiral set")
    norm = D.transforms.Normalize(mean, std, inplace=True)
    train_tf = norm
    if args.augment:
        aug = [D.transforms.RandomCrop(shape[-1], padding=2 if shape[-1] == 28 else 4)]
        if args.dataset == "cifar10":
            aug.append(D.transforms.RandomHorizontalFlip())
        train_tf = D.transforms.Compose(aug + [norm])
    cls = {"mnist": D.MNIST, "fashion-mnist": D.FashionMNIST, "cifar10": D.CIFAR10}[args.dataset]
    try:
        train = cls(args.data_dir, train=True, transform=train_tf, download=args.download)
        test = cls(args.data_dir, train=False, transform=norm, download=args.download)
    except D.DataFileError as e:
        raise SystemExit(f"error: {e}") from None
    return train, test


def _constructor_params(ctor):
    """The keyword arguments ``ctor`` takes.  A zoo factory such as ``resnet18(**kwargs)``
    forwards its keywords to the class named by its return annotation, so that class's
    parameters count too (without this a ResNet on MNIST kept ImageNet's 1000 classes)."""
    sig = inspect.signature(ctor)
    params = dict(sig.parameters)
    target = sig.return_annotation
    if any(p.kind is p.VAR_KEYWORD for p in params.values()) and isinstance(target, type):
        params.update(inspect.signature(target).parameters)
    return params


def build_model(args):
    """A model from ``nn.models`` by name (case-insensitive), given the data set's
    number of classes and input channels when its constructor takes them."""
    import nn
    from nn import models
    classes, shape, _, _ = DATASETS[args.dataset]
    want = args.model.replace("-", "").replace("_", "").lower()
    ctor = None
    for name in dir(models):
        if name.replace("_", "").lower() == want and callable(getattr(models, name)):
            ctor = getattr(models, name)
            if not isinstance(ctor, type):      # prefer the factory function's exact name
                break
    if ctor is None:
        have = sorted(n for n in dir(models) if not n.startswith("_"))
        raise SystemExit(f"error: unknown model {args.model!r}; nn.models provides {have}")
    params = _constructor_params(ctor)
    flat = int(np.prod(shape))
    if "hidden_features" in params:          # nn.models.MLP(in_features, hidden_features, out_features)
        kwargs = {"in_features": flat, "hidden_features": [args.hidden, args.hidden], "out_features": classes}
    else:
        kwargs = {}
        for key, value in (("num_classes", classes), ("in_channels", shape[0] if len(shape) == 3 else None),
                           ("in_features", flat)):
            if key in params and value is not None:
                kwargs[key] = value
    if args.checkpoint_activations is not None:
        if "checkpoint" not in params:
            raise SystemExit(f"error: --checkpoint-activations: {args.model} takes no checkpoint= "
                             "option (the ResNets and Vision Transformers do)")
        kwargs["checkpoint"] = args.checkpoint_activations
    model = ctor(**kwargs)
    if not isinstance(model, nn.Module):
        raise SystemExit(f"error: {args.model} did not build an nn.Module")
    return model


def build_optimizer(args, model):
    params = list(model.parameters())
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay,
                         nesterov=args.momentum > 0)
    if args.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=args.lr, momentum=args.momentum, weight_decay=args.weight_decay)
    cls = {"adam": optim.Adam, "adamw": optim.AdamW, "adagrad": optim.Adagrad}[args.optimizer]
    return cls(params, lr=args.lr, weight_decay=args.weight_decay)


def build_scheduler(args, opt, steps_per_epoch):
    """Returns (scheduler or None, whether it steps per batch)."""
    kind = args.scheduler
    if kind == "none":
        return None, False
    if kind == "step":
        return S.StepLR(opt, step_size=max(1, args.epochs // 3), gamma=0.1), False
    if kind == "exponential":
        return S.ExponentialLR(opt, gamma=0.9), False
    if kind == "cosine":
        return S.CosineAnnealingLR(opt, T_max=args.epochs * steps_per_epoch), True
    if kind == "warmup-cosine":
        total = args.epochs * steps_per_epoch
        warm = max(1, min(steps_per_epoch, total // 10))
        return S.SequentialLR(opt, [S.LinearLR(opt, start_factor=0.1, total_iters=warm),
                                    S.CosineAnnealingLR(opt, T_max=max(1, total - warm))],
                              milestones=[warm]), True
    if kind == "onecycle":
        return S.OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=steps_per_epoch), True
    if kind == "plateau":
        return S.ReduceLROnPlateau(opt, factor=0.5, patience=1), False
    raise ValueError(kind)


def evaluate(model, loader, limit=None):
    import nn.functional as F
    model.eval()
    total_loss, correct, seen = 0.0, 0, 0
    with ag.no_grad():
        for i, (x, y) in enumerate(loader):
            if limit is not None and i >= limit:
                break
            logits = model(x)
            total_loss += float(F.cross_entropy(logits, y, reduction="sum"))
            correct += int((logits.array.argmax(1) == y.array).sum())
            seen += len(y.array)
    model.train()
    return total_loss / max(seen, 1), correct / max(seen, 1)


# -- outputs -------------------------------------------------------------------------
FIELDS = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "epoch_s", "data_s", "eval_s"]


def write_csv(path, history):
    tmp = path + ".tmp"
    with open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=FIELDS)
        w.writeheader()
        for row in history:
            w.writerow({k: (f"{row[k]:.6g}" if isinstance(row[k], float) else row[k]) for k in FIELDS})
    os.replace(tmp, path)


def write_plot(path, history, title):
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    ep = [r["epoch"] for r in history]
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 4))
    a1.plot(ep, [r["train_loss"] for r in history], "o-", label="train")
    a1.plot(ep, [r["test_loss"] for r in history], "s-", label="test")
    a1.set_xlabel("epoch"), a1.set_ylabel("cross-entropy loss"), a1.legend(), a1.grid(alpha=0.3)
    a2.plot(ep, [100 * r["train_acc"] for r in history], "o-", label="train")
    a2.plot(ep, [100 * r["test_acc"] for r in history], "s-", label="test")
    a2.set_xlabel("epoch"), a2.set_ylabel("accuracy (%)"), a2.legend(), a2.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def export_graph(path, model, x, y):
    import nn.functional as F
    from autograd.viz import to_dot
    loss = F.cross_entropy(model(x), y)
    graph = to_dot(loss, params=dict(model.named_parameters()), title="one training step")
    if path.endswith(".dot") or path.endswith(".gv"):
        with open(path, "w") as f:
            f.write(graph.source)
    else:
        graph.render(path)
    loss.backward()          # release the graph
    model.zero_grad()


# -- the run -------------------------------------------------------------------------
class _StopRequest:
    """SIGINT sets a flag checked after each batch; a second SIGINT aborts at once."""

    def __init__(self):
        self.requested = False
        self._previous = None

    def _handler(self, signum, frame):
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        self._previous = signal.signal(signal.SIGINT, self._handler)
        return self

    def __exit__(self, *exc):
        signal.signal(signal.SIGINT, self._previous)


def _rng_state(g):
    return g.bit_generator.state


def _set_rng_state(g, state):
    g.bit_generator.state = state


class Run:
    """One training run: what it trains, its position, and its checkpoint."""

    def __init__(self, args, ckpt):
        self.args = args
        ag.manual_seed(args.seed)
        self.data_rng = np.random.default_rng([args.seed, 1])     # shuffling only
        self.train_set, self.test_set = load_data(args)
        self.par = par = DistributedRun(args) if args.distributed else None
        if par is None:
            self.train_loader = D.DataLoader(self.train_set, batch_size=args.batch_size, shuffle=True,
                                             generator=self.data_rng)
            self.test_loader = D.DataLoader(self.test_set, batch_size=args.eval_batch_size)
        else:
            self.train_loader = par.train_loader(self.train_set, args.batch_size, self.data_rng)
            self.test_loader = par.test_loader(self.test_set, args.eval_batch_size)
        self.steps = len(self.train_loader) if args.limit_batches is None \
            else min(args.limit_batches, len(self.train_loader))
        self.model = build_model(args)
        self.net = self.model if par is None else par.wrap(self.model)   # what trains
        self.writer = par is None or par.writer        # the process that prints and writes files
        self.opt = build_optimizer(args, self.model)
        self.sched, self.per_batch = build_scheduler(args, self.opt, self.steps)
        import nn
        self.monitor = nn.Monitor(self.model, every=args.monitor) if args.monitor is not None else None
        self.history, self.start_epoch, self.resume_pos = [], 0, None
        self.epoch_rng_state = None       # the shuffle state at the start of the current epoch
        self.ckpt = ckpt
        self.profiler = _ProfileSteps(args) if args.profile and self.writer else None
        self.tensorboard = _TensorBoardLog(args.tensorboard, self.monitor) \
            if args.tensorboard and self.writer else None
        if ckpt is not None:
            self._restore(ckpt)

    def _restore(self, ckpt):
        self.model.load_state_dict(ckpt["model"])
        self.opt.load_state_dict(ckpt["optimizer"])
        if self.sched is not None:
            self.sched.load_state_dict(ckpt["scheduler"])
        self.history = list(ckpt["history"])
        self.start_epoch = ckpt["epoch"]
        _set_rng_state(self.data_rng, ckpt["data_rng"])
        self.resume_pos = ckpt.get("position")          # set when stopped inside an epoch
        print(f"resumed from {self.args.resume}: epoch {self.start_epoch}"
              + (f", batch {self.resume_pos['batch']}" if self.resume_pos else ""))

    def describe(self):
        args = self.args
        n_params = sum(p.numel() for p in self.model.parameters())
        print(f"{args.model} on {args.dataset}: {n_params:,} parameters, {len(self.train_set):,} train / "
              f"{len(self.test_set):,} test samples, {self.steps} batches of {args.batch_size} per epoch, "
              f"{args.optimizer} lr={args.lr} scheduler={args.scheduler}")

    def checkpoint(self, epoch, position=None):
        if not self.writer:
            return
        from autograd.serialization import save
        args = self.args
        save({"model": self.model.state_dict(), "optimizer": self.opt.state_dict(),
              "scheduler": self.sched.state_dict() if self.sched is not None else None,
              "epoch": epoch, "history": self.history,
              "data_rng": self.epoch_rng_state if position else _rng_state(self.data_rng),
              "position": position, "global_rng": _rng_state(ag.creation.default_generator()),
              "args": {k: getattr(args, k) for k in RUN_OPTIONS + PLACE_OPTIONS}},
             args.checkpoint)

    def _start_epoch(self, epoch):
        """The batch iterator of ``epoch`` and the running sums, after a resume where needed."""
        self.epoch_rng_state = _rng_state(self.data_rng)       # the shuffle of this epoch comes next
        first, sums = 0, (0.0, 0, 0)
        pos = self.resume_pos
        if pos is not None:
            _set_rng_state(self.data_rng, pos["data_rng"])
            self.epoch_rng_state = pos["data_rng"]
        it = iter(self.train_loader)
        if pos is not None:
            first = pos["batch"]
            for _ in range(first):                     # replay the same shuffle
                next(it)
            sums = (pos["loss_sum"], pos["correct"], pos["seen"])
            _set_rng_state(ag.creation.default_generator(), pos["global_rng"])
            self.resume_pos = None
        elif self.ckpt is not None and epoch == self.start_epoch:
            _set_rng_state(ag.creation.default_generator(), self.ckpt["global_rng"])
        return it, first, sums

    def stop_requested(self, stop):
        """Ctrl-C was pressed (in a distributed run: on any rank)."""
        return stop.requested if self.par is None else self.par.any(stop.requested)

    def train_epoch(self, epoch, stop, on_batch=None):
        """Train one epoch; returns ``(loss_sum, correct, seen)``, or None when Ctrl-C
        stopped it in the middle (after writing a checkpoint)."""
        import nn.functional as F
        args, steps, par = self.args, self.steps, self.par
        self.epoch_first_step = self.monitor.steps if self.monitor is not None else 0
        if par is not None:
            par.set_epoch(epoch)
        it, first, (loss_sum, correct, seen) = self._start_epoch(epoch)
        bar = None
        if not args.no_progress:
            from tqdm import tqdm
            bar = tqdm(total=steps, initial=first, desc=f"epoch {epoch + 1}/{args.epochs}", unit="batch",
                       leave=True, dynamic_ncols=True, mininterval=0.25)
        for i in range(first, steps):
            x, y = next(it)
            if par is not None:
                par.seed_batch(epoch, i)
            if self.profiler is not None:
                self.profiler.step_begins()
            logits = self.net(x)
            loss = F.cross_entropy(logits, y)
            self.opt.zero_grad()
            loss.backward()
            with record_function(f"Optimizer.step#{type(self.opt).__name__}.step"):
                self.opt.step()
            if self.profiler is not None:
                self.profiler.step_ends()
            if self.monitor is not None:
                self.monitor.step()
            if self.tensorboard is not None:
                self.tensorboard.batch(epoch * steps + i, float(loss), self.opt.param_groups[0]["lr"])
            if self.sched is not None and self.per_batch:
                self.sched.step()
            batch = (float(loss) * len(y.array), int((logits.array.argmax(1) == y.array).sum()), len(y.array))
            if par is not None:
                batch = par.batch_totals(*batch)
            loss_sum += batch[0]
            correct += batch[1]
            seen += batch[2]
            if bar is not None:
                bar.update(1)
                if i % 10 == 0 or i == steps - 1:
                    bar.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{100 * correct / seen:.2f}%",
                                    refresh=False)
            if on_batch is not None:
                on_batch(epoch, i)
            if self.stop_requested(stop) and i < steps - 1:
                position = {"batch": i + 1, "data_rng": self.epoch_rng_state, "loss_sum": loss_sum,
                            "correct": correct, "seen": seen,
                            "global_rng": _rng_state(ag.creation.default_generator())}
                if bar is not None:
                    bar.close()
                self.checkpoint(epoch, position)
                print(f"\ninterrupted: checkpoint written to {args.checkpoint} "
                      f"(epoch {epoch + 1}, batch {i + 1}); continue with: {resume_hint(args)}")
                return None
        if bar is not None:
            bar.close()
        return loss_sum, correct, seen

    def end_epoch(self, epoch, sums, train_s):
        """Evaluate, step an epoch-wise scheduler, record metrics, write the checkpoint."""
        args = self.args
        loss_sum, correct, seen = sums
        data_s = self.train_loader.fetch_time
        t_eval = time.perf_counter()
        if self.par is None:
            test_loss, test_acc = evaluate(self.model, self.test_loader, args.limit_eval_batches)
        else:
            test_loss, test_acc = self.par.evaluate(evaluate, self.model, self.test_loader,
                                                    args.limit_eval_batches)
        eval_s = time.perf_counter() - t_eval
        if self.sched is not None and not self.per_batch:
            if isinstance(self.sched, S.ReduceLROnPlateau):
                self.sched.step(test_loss)
            else:
                self.sched.step()
        row = {"epoch": epoch + 1, "train_loss": loss_sum / max(seen, 1), "train_acc": correct / max(seen, 1),
               "test_loss": test_loss, "test_acc": test_acc, "lr": float(self.opt.param_groups[0]["lr"]),
               "epoch_s": train_s, "data_s": data_s, "eval_s": eval_s}
        self.history.append(row)
        print(f"epoch {epoch + 1}: train loss {row['train_loss']:.4f} acc {100 * row['train_acc']:.2f}% | "
              f"test loss {test_loss:.4f} acc {100 * test_acc:.2f}% | train {train_s:.1f}s "
              f"(data loading {data_s:.2f}s = {100 * data_s / max(train_s, 1e-9):.1f}%), eval {eval_s:.1f}s",
              flush=True)
        self.checkpoint(epoch + 1)
        if not self.writer:
            return
        if self.tensorboard is not None:
            self.tensorboard.epoch(row)
        write_csv(os.path.join(args.out_dir, "metrics.csv"), self.history)
        if not write_plot(os.path.join(args.out_dir, "metrics.png"), self.history,
                          f"{args.model} on {args.dataset}") and epoch == self.start_epoch:
            print("note: matplotlib is not installed, so no plot (pip install matplotlib)")
        if self.monitor is not None:
            from nn.monitor_figures import write_report
            warning = write_report(self.monitor, args.out_dir, DATASETS[args.dataset][1],
                                   self.epoch_first_step)
            if warning:
                print(f"monitor warning: {warning}", flush=True)


class _TensorBoardLog:
    """--tensorboard DIR: each batch's loss and learning rate, each epoch's losses,
    accuracies and learning rate; with --monitor, every recording's per-layer
    statistics (``monitor/LAYER/STAT``) and activation histograms."""

    def __init__(self, log_dir, monitor):
        from autograd.utils.tensorboard import SummaryWriter
        try:
            self.writer = SummaryWriter(log_dir)
        except ImportError as e:
            raise SystemExit(f"error: --tensorboard: {e}") from None
        self.monitor, self.logged = monitor, 0        # monitor records already written

    def batch(self, step, loss, lr):
        self.writer.add_scalar("loss/train_batch", loss, step)
        self.writer.add_scalar("lr", lr, step)
        if self.monitor is None or len(self.monitor.records) == self.logged:
            return
        from nn.monitor import STATS
        rows = self.monitor.records[self.logged:]
        self.logged = len(self.monitor.records)
        for row in rows:
            for stat in STATS:
                if row[stat] is not None:
                    self.writer.add_scalar(f"monitor/{row['layer']}/{stat}", row[stat], row["step"])
        for layer, units in self.monitor.units.items():
            self.writer.add_histogram(f"monitor/{layer}/activations", units, rows[-1]["step"])

    def epoch(self, row):
        for tag, key in (("loss/train", "train_loss"), ("loss/test", "test_loss"), ("accuracy/train", "train_acc"),
                         ("accuracy/test", "test_acc"), ("lr/epoch", "lr")):
            self.writer.add_scalar(tag, row[key], row["epoch"])
        self.writer.flush()


class _ProfileSteps:
    """--profile STEPS: the profiler around STEPS training steps after two warm-up steps
    (one ``ProfilerStep#k`` range each); then the table, trace.json and trace.html."""
    WARMUP = 2

    def __init__(self, args):
        self.args, self.count, self.prof, self.step_range = args, 0, None, None

    def step_begins(self):
        if self.count == self.WARMUP:
            self.prof = profile(record_shapes=True, profile_memory=True).__enter__()
        if self.prof is not None:
            self.step_range = record_function(f"ProfilerStep#{self.count}").__enter__()

    def step_ends(self):
        self.count += 1
        if self.prof is not None:
            self.step_range.__exit__(None, None, None)
            if self.count == self.WARMUP + self.args.profile:
                self.finish()

    def finish(self):
        if self.prof is None:
            return
        prof, self.prof = self.prof, None
        prof.__exit__(None, None, None)
        os.makedirs(self.args.out_dir, exist_ok=True)
        path = os.path.join(self.args.out_dir, "trace.json")
        prof.export_chrome_trace(path)
        page = timeline.write_page(path, os.path.join(self.args.out_dir, "trace.html"))
        print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))
        print(f"profile of {self.count - self.WARMUP} steps: {path} (Perfetto, chrome://tracing), "
              f"{page}; saved for backward peaked at {prof.saved_peak / 2 ** 20:.1f} MiB", flush=True)


def run(argv=None, on_batch=None):
    """Train; returns the metrics history (a list of dicts).  ``on_batch(epoch, i)`` is
    called after each training batch (tests use it to send Ctrl-C mid-epoch)."""
    args = parse_args(argv)
    check_writable(args)
    r = Run(args, args.resumed)
    r.describe()
    if args.export_graph and r.writer:
        x, y = next(iter(D.DataLoader(r.train_set, batch_size=min(args.batch_size, 8))))
        export_graph(args.export_graph, r.model, x, y)
        print(f"graph of one training step written to {args.export_graph}")
    if r.start_epoch >= args.epochs:
        print(f"nothing to train: {args.resume} is at epoch {r.start_epoch} of {args.epochs}")
    r.model.train()
    stopped = False
    with _StopRequest() as stop:
        for epoch in range(r.start_epoch, args.epochs):
            t_epoch = time.perf_counter()
            sums = r.train_epoch(epoch, stop, on_batch)
            if sums is None:
                stopped = True
                break
            r.end_epoch(epoch, sums, time.perf_counter() - t_epoch)
            if r.stop_requested(stop):
                print(f"interrupted: checkpoint written to {args.checkpoint} after epoch {epoch + 1}; "
                      f"continue with: {resume_hint(args)}")
                stopped = True
                break
    if r.profiler is not None:
        r.profiler.finish()            # fewer steps ran than asked for
    if r.tensorboard is not None:
        r.tensorboard.writer.close()
    if not stopped and r.history:
        print(f"done: test accuracy {100 * r.history[-1]['test_acc']:.2f}%; metrics in "
              f"{os.path.join(args.out_dir, 'metrics.csv')}, checkpoint {args.checkpoint}")
    return r.history


def main(argv=None):
    if "--distributed" in (sys.argv[1:] if argv is None else argv):
        guarded(run, argv)
    else:
        run(argv)
    return 0


if __name__ == "__main__":
    sys.exit(main())
