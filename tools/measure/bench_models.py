"""Model steps where eager PyTorch led (issue 32), for tools/bench.py and with peak RSS.

    python -m tools.bench --threads 2 --only "models:"       # times, in one process
    python -m tools.measure.bench_models --threads 2         # times and peak RSS, each
                                                             # side in a fresh process
    python -m tools.measure.bench_models --threads 1 --clock cpu   # steadier when busy

Each model is written once (``torch`` is PyTorch or autograd, ``nn`` its module) and
both sides start from the same weights (ours exported by ``state_dict``):
- LSTM language model: embedding 1000 x 256, 2-layer LSTM hidden 256, 64 steps x
  batch 32, linear head over the 1000 tokens, cross-entropy, clip_grad_norm_(1.0), Adam.
- GRU language model: the same with a 2-layer GRU.
- MobileNet-style stack at CIFAR size: a 3x3 stem (32 channels), seven depthwise-
  separable blocks (3x3 depthwise + BatchNorm + ReLU, 1x1 pointwise + BatchNorm + ReLU;
  32-64-128(/2)-128-256(/2)-256-512(/2)-512), global average pool, linear head;
  batch 32 of 3x32x32, training mode, SGD(momentum 0.9).
One iteration is forward, loss, zero_grad, backward (clipping) and the optimizer step.
Peak RSS is the child process's ``ru_maxrss`` after its warm-up and timed steps.  On a
shared machine only the ratios of one run mean anything.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

LM = dict(vocab=1000, embed=256, hidden=256, layers=2, steps=64, batch=32, clip=1.0)
MOBILENET = ((32, 64, 1), (64, 128, 2), (128, 128, 1), (128, 256, 2), (256, 256, 1),
             (256, 512, 2), (512, 512, 1))     # (in, out, stride) of each block
CIFAR_BATCH = 32
SIDES = ("ours", "torch")


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def _language_model(nn, cell):
    c = LM

    class LanguageModel(nn.Module):
        def __init__(self):
            super().__init__()
            self.embed = nn.Embedding(c["vocab"], c["embed"])
            self.rnn = getattr(nn, cell)(c["embed"], c["hidden"], c["layers"])
            self.head = nn.Linear(c["hidden"], c["vocab"])

        def forward(self, tokens):                   # (L, N) -> (L * N, vocab)
            out, _ = self.rnn(self.embed(tokens))
            return self.head(out).reshape(-1, c["vocab"])
    return LanguageModel()


def _mobilenet(nn):
    def conv_bn(cin, cout, k, stride, groups):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU()]
    layers = conv_bn(3, 32, 3, 1, 1)
    for cin, cout, stride in MOBILENET:
        layers += conv_bn(cin, cin, 3, stride, cin) + conv_bn(cin, cout, 1, 1, 1)
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(MOBILENET[-1][1], 10)]
    return nn.Sequential(*layers)


def _port(ours, theirs):
    torch = _torch()
    theirs.load_state_dict({k: torch.from_numpy(np.array(v.array))
                            for k, v in ours.state_dict().items()})
    return theirs


def _setup(build, x, y, optimizer, clip, sides):
    """The sides of one workload: build(nn) -> model, optimizer(optim, params).  PyTorch
    is imported only for a "torch" side (a child timing ours alone keeps it out of its RSS)."""
    import autograd as ag
    import nn
    import optim
    ag.manual_seed(0)
    model = build(nn)
    state = {"ours": (model, optimizer(optim, model.parameters()), ag.tensor(x), ag.tensor(y),
                      nn, clip)}
    torch = _torch() if "torch" in sides else None
    if torch is not None:
        tm = _port(model, build(torch.nn))
        state["torch"] = (tm, optimizer(torch.optim, tm.parameters()), torch.from_numpy(x),
                          torch.from_numpy(y), torch.nn, clip)
    return state


def _lm_setup(cell, sides=SIDES):
    rng = np.random.default_rng(0)
    tokens = rng.integers(0, LM["vocab"], (LM["steps"], LM["batch"]))
    target = rng.integers(0, LM["vocab"], LM["steps"] * LM["batch"])
    return _setup(lambda nn: _language_model(nn, cell), tokens, target,
                  lambda optim, ps: optim.Adam(ps, lr=1e-3), LM["clip"], sides)


def _mobilenet_setup(sides=SIDES):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((CIFAR_BATCH, 3, 32, 32)).astype(np.float32)
    y = rng.integers(0, 10, CIFAR_BATCH)
    return _setup(_mobilenet, x, y, lambda optim, ps: optim.SGD(ps, lr=0.01, momentum=0.9), None,
                  sides)


def _step(side):
    def step(state):
        model, opt, x, y, nn, clip = state[side]
        opt.zero_grad()
        nn.functional.cross_entropy(model(x), y).backward()
        if clip is not None:
            nn.utils.clip_grad_norm_(model.parameters(), clip)
        opt.step()
    return step


WORKLOADS = {
    "models: LSTM LM (embed 256, 2 x LSTM 256, 64 steps x batch 32, vocab 1000), clip, Adam":
        (lambda sides=SIDES: _lm_setup("LSTM", sides), _step("ours"), _step("torch"), {}),
    "models: GRU LM (embed 256, 2 x GRU 256, 64 steps x batch 32, vocab 1000), clip, Adam":
        (lambda sides=SIDES: _lm_setup("GRU", sides), _step("ours"), _step("torch"), {}),
    "models: MobileNet-style stack (7 separable blocks, 32-512 ch), batch 32x3x32x32, "
    "train, SGD(momentum)":
        (_mobilenet_setup, _step("ours"), _step("torch"), {}),
}


def workloads():
    return dict(WORKLOADS)


# -- one side per fresh process, with its peak RSS ------------------------------------
CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def _child(name, side, repeat, min_time, clock):
    import resource

    from tools.bench import _time
    setup, ours, theirs, _ = WORKLOADS[name]
    state = {side: setup((side,))[side]}         # only this side's model stays alive
    seconds = _time(ours if side == "ours" else theirs, state, repeat, min_time, CLOCKS[clock])
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024      # KiB -> MiB
    print(json.dumps({"ms": seconds * 1e3, "rss_mb": rss}))


def _run_child(name, side, args):
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        env[var] = str(args.threads)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    out = subprocess.run([sys.executable, "-m", "tools.measure.bench_models", "--child", name, side,
                          "--repeat", str(args.repeat), "--min-time", str(args.min_time),
                          "--clock", args.clock, "--threads", str(args.threads)],
                         capture_output=True, text=True, env=env, cwd=root)
    if out.returncode:
        raise RuntimeError(f"{side} on {name!r} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--only", nargs="*", default=None)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--min-time", type=float, default=0.5)
    p.add_argument("--rounds", type=int, default=3, help="fresh processes per side (best kept)")
    p.add_argument("--clock", choices=CLOCKS, default="wall",
                   help="cpu: the process's CPU time (all its threads), steadier on a busy machine")
    p.add_argument("--child", nargs=2, metavar=("NAME", "SIDE"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        import autograd as ag
        torch = _torch()
        ag.set_num_threads(args.threads)
        if torch is not None:
            torch.set_num_threads(args.threads)
        return _child(*args.child, args.repeat, args.min_time, args.clock)
    print(f"threads: {args.threads}; each side in fresh processes, alternating, {args.rounds} "
          f"rounds; best median ms ({args.clock} clock) and that run's peak RSS MiB")
    for name in WORKLOADS:
        if args.only and not any(k.lower() in name.lower() for k in args.only):
            continue
        sides = ("ours", "torch") if _torch() is not None else ("ours",)
        best = {}
        for _ in range(args.rounds):            # alternating fresh processes; best median
            for side in sides:
                run = _run_child(name, side, args)
                if side not in best or run["ms"] < best[side]["ms"]:
                    best[side] = run
        ours = best["ours"]
        line = f"{name}\n    tapegrad {ours['ms']:9.2f} ms {ours['rss_mb']:7.0f} MiB"
        if "torch" in best:
            theirs = best["torch"]
            line += (f" | torch {theirs['ms']:9.2f} ms {theirs['rss_mb']:7.0f} MiB"
                     f" | ratio {ours['ms'] / theirs['ms']:5.2f}x")
        print(line, flush=True)


if __name__ == "__main__":
    main()
