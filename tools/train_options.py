"""The options of ``python -m tools.train``: parsing, validation, and what ``--resume``
takes from a checkpoint.

Every numeric option is checked when parsed (``--lr nan`` or ``--limit-batches 0``
stop before anything is built).  ``--resume`` restores the options that shape the run
(RUN_OPTIONS) and refuses different values for them on its command line; it also
restores where the files are and how many epochs to train (PLACE_OPTIONS), which the
command line may change, except the epochs when the learning-rate schedule is laid out
over them.
"""
import argparse
import math
import os
import shlex
import sys
import tempfile

DATASETS = {  # name -> (classes, input shape, normalisation mean, std)
    "mnist": (10, (1, 28, 28), (0.1307,), (0.3081,)),
    "fashion-mnist": (10, (1, 28, 28), (0.2860,), (0.3530,)),
    "cifar10": (10, (3, 32, 32), (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),
    "spiral": (3, (2,), None, None),
}
DEFAULT_MODEL = {"mnist": "lenet5", "fashion-mnist": "lenet5", "cifar10": "resnet18", "spiral": "mlp"}
# Options that define the run: --resume takes them from the checkpoint and refuses
# different values on its command line.
RUN_OPTIONS = ("model", "dataset", "optimizer", "lr", "momentum", "weight_decay", "batch_size",
               "scheduler", "seed", "limit_batches", "augment", "hidden", "limit_eval_batches",
               "eval_batch_size")
# Stored too, but --resume may change them: where the files are, and how far to train
# (unless the learning-rate schedule is laid out over the epochs).
PLACE_OPTIONS = ("epochs", "data_dir", "out_dir")
EPOCH_SCHEDULERS = ("step", "cosine", "warmup-cosine", "onecycle")


def _integer(minimum):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {value}")
        return value
    return parse


def _number(minimum, strict=False, below=None):
    """A finite float >= minimum (> when ``strict``), and < ``below`` if given."""
    def parse(text):
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        if not math.isfinite(value) or value < minimum or (strict and value == minimum) \
                or (below is not None and value >= below):
            bounds = f"{'>' if strict else '>='} {minimum}" + (f" and < {below}" if below is not None else "")
            raise argparse.ArgumentTypeError(f"must be a finite number {bounds}, got {text}")
        return value
    return parse


DESCRIPTION = "Train a model-zoo network on a data set, with progress bars, metrics and checkpoints."


def _parser(defaults=True):
    """The command line; with ``defaults=False`` absent options stay absent, which
    tells what was given explicitly."""
    def d(value):
        return value if defaults else argparse.SUPPRESS

    p = argparse.ArgumentParser(prog="python -m tools.train", description=DESCRIPTION,
                                allow_abbrev=False)
    p.add_argument("--model", default=d(None), help="zoo model (default: lenet5 for MNIST, mlp for spiral)")
    p.add_argument("--dataset", default=d(None), choices=sorted(DATASETS),
                   help="default: mnist when --data-dir is given, else the bundled spiral set")
    p.add_argument("--data-dir", default=d(None), help="folder holding the data set's files")
    p.add_argument("--download", action="store_true", default=d(False),
                   help="fetch missing official files (online)")
    p.add_argument("--epochs", type=_integer(1), default=d(10))
    p.add_argument("--batch-size", type=_integer(1), default=d(64))
    p.add_argument("--optimizer", default=d("adam"), choices=["sgd", "adam", "adamw", "rmsprop", "adagrad"])
    p.add_argument("--lr", type=_number(0, strict=True), default=d(None),
                   help="default: 0.05 for sgd, 0.01 for others")
    p.add_argument("--momentum", type=_number(0, below=1), default=d(0.9), help="sgd/rmsprop momentum")
    p.add_argument("--weight-decay", type=_number(0), default=d(0.0))
    p.add_argument("--scheduler", default=d("none"),
                   choices=["none", "step", "cosine", "onecycle", "plateau", "exponential", "warmup-cosine"])
    p.add_argument("--augment", action="store_true", default=d(False), help="random crop (+flip for CIFAR)")
    p.add_argument("--hidden", type=_integer(1), default=d(64), help="hidden width of the mlp model")
    p.add_argument("--seed", type=_integer(0), default=d(0))
    p.add_argument("--limit-batches", type=_integer(1), default=d(None),
                   help="train on this many batches per epoch")
    p.add_argument("--limit-eval-batches", type=_integer(1), default=d(None),
                   help="evaluate on this many batches")
    p.add_argument("--eval-batch-size", type=_integer(1), default=d(1000))
    p.add_argument("--out-dir", default=d(None), help="default: runs/DATASET-MODEL")
    p.add_argument("--checkpoint", default=d(None),
                   help="default: OUT/checkpoint.safetensors, or the --resume file")
    p.add_argument("--resume", default=d(None), help="checkpoint to continue from")
    p.add_argument("--export-graph", default=d(None), metavar="FILE.svg|FILE.dot",
                   help="write the backprop graph of one training step")
    p.add_argument("--no-progress", action="store_true", default=d(False),
                   help="no tqdm bar (one line per epoch)")
    p.add_argument("--monitor", type=_integer(1), nargs="?", const=10, default=d(None), metavar="N",
                   help="record per-layer statistics every N steps (default 10): OUT/monitor.csv "
                        "and pictures each epoch, a warning when a layer leaves its sane band")
    p.add_argument("--checkpoint-activations", type=_integer(1), default=d(None), metavar="N",
                   help="run the model's blocks as N checkpointed segments (ResNets, ViTs): "
                        "less memory held for backward, one more forward of the blocks")
    p.add_argument("--profile", type=_integer(1), default=d(None), metavar="STEPS",
                   help="profile STEPS training steps after 2 warm-up steps: prints the op "
                        "table, writes OUT/trace.json (Chrome trace) and OUT/trace.html")
    p.add_argument("--tensorboard", default=d(None), metavar="DIR",
                   help="log losses, accuracy and the learning rate (and, with --monitor, the per-layer "
                        "statistics and activation histograms) to TensorBoard event files in DIR "
                        "(needs the tensorboard extra: pip install 'tapegrad[tensorboard]')")
    p.add_argument("--distributed", action="store_true", default=d(False),
                   help="data-parallel over the processes of `mpiexec -n K` (--batch-size is the global batch)")
    return p


def parse_args(argv=None):
    """Options with their defaults filled in; with --resume, the run's options come
    from the checkpoint (``args.resumed`` holds it)."""
    argv = sys.argv[1:] if argv is None else list(argv)
    given = vars(_parser(defaults=False).parse_args(argv))
    args = _parser().parse_args(argv)
    args.resumed = resume_args(args, given) if args.resume else None
    if args.dataset is None:
        args.dataset = "mnist" if args.data_dir else "spiral"
    if args.model is None:
        args.model = DEFAULT_MODEL[args.dataset]
    if args.lr is None:
        args.lr = 0.05 if args.optimizer == "sgd" else 0.01
    if args.out_dir is None:
        args.out_dir = os.path.join("runs", f"{args.dataset}-{args.model}")
    if args.checkpoint is None:
        args.checkpoint = args.resume or os.path.join(args.out_dir, "checkpoint.safetensors")
    return args


CHECKPOINT_KEYS = ("model", "optimizer", "scheduler", "epoch", "history", "data_rng", "position",
                   "global_rng", "args")


def resume_args(args, given):
    """Load the --resume checkpoint, take the run's options from it and refuse options
    on the command line that would change the run."""
    from autograd.serialization import CheckpointError, load
    try:
        ckpt = load(args.resume)
    except CheckpointError as e:
        raise SystemExit(f"error: cannot resume: {e}") from None
    saved = ckpt.get("args") if isinstance(ckpt, dict) else None
    if not isinstance(saved, dict) or any(k not in ckpt for k in CHECKPOINT_KEYS) \
            or any(k not in saved for k in RUN_OPTIONS + PLACE_OPTIONS):
        what = f"a dict with keys {sorted(map(str, ckpt))[:6]}" if isinstance(ckpt, dict) else type(ckpt).__name__
        raise SystemExit(f"error: cannot resume: {args.resume} is a checkpoint file but not one written by "
                         f"tools.train (it holds {what}; a training checkpoint also has the run's "
                         f"options, optimizer and random states); load it with nn.load, or start a "
                         f"new run without --resume")
    fixed = RUN_OPTIONS + (("epochs",) if saved["scheduler"] in EPOCH_SCHEDULERS else ())
    conflicts = [f"--{k.replace('_', '-')} {given[k]} (the checkpoint's run has {saved[k]})"
                 for k in fixed if k in given and given[k] != saved[k]]
    if conflicts:
        raise SystemExit(f"error: cannot resume {args.resume} with different options: {'; '.join(conflicts)}. "
                         "Drop them to continue the run as it was, or start a new run without --resume"
                         + (" (the epochs are fixed: the learning-rate schedule spans them)"
                            if any(c.startswith("--epochs") for c in conflicts) else ""))
    for key in RUN_OPTIONS + PLACE_OPTIONS:
        if key not in given:
            setattr(args, key, saved[key])
    return ckpt


def resume_hint(args):
    """The command that continues this run."""
    hint = f"python -m tools.train --resume {shlex.quote(args.checkpoint)}"
    return hint + (f" --data-dir {shlex.quote(args.data_dir)}" if args.data_dir else "")


def check_writable(args):
    """Fail now, not after the first epoch, when an output cannot be written."""
    places = [(args.out_dir, "the output folder (--out-dir)"),
              (os.path.dirname(os.path.abspath(args.checkpoint)), "the checkpoint's folder (--checkpoint)")]
    if args.export_graph:
        places.append((os.path.dirname(os.path.abspath(args.export_graph)), "the --export-graph folder"))
    if args.tensorboard:
        places.append((args.tensorboard, "the --tensorboard log folder"))
    for folder, what in places:
        try:
            os.makedirs(folder, exist_ok=True)
            with tempfile.TemporaryFile(dir=folder):
                pass
        except OSError as e:
            raise SystemExit(f"error: cannot write to {what} {folder}: {e.strerror or e}") from None
    if os.path.isdir(args.checkpoint):
        raise SystemExit(f"error: --checkpoint {args.checkpoint} is a folder; give a file name")
