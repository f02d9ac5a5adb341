"""A tour of the engine: a custom op checked with gradcheck; an MLP written with raw
tensors (no nn, no optim) learning a 3-class spiral; the tape of a small expression.

    python -m tools.demo [--steps 300] [--seed 0]
"""
import argparse
import time

import numpy as np

import autograd as ag
from autograd.data.spiral import make_spiral


class Swish(ag.Function):
    """A custom op, x * sigmoid(x), with its VJP written by hand."""

    @staticmethod
    def forward(ctx, x):
        s = x.sigmoid()
        ctx.save_for_backward(x)
        return x * s

    @staticmethod
    def backward(ctx, g):
        x, = ctx.saved_tensors
        s = x.sigmoid()
        return g * s * (1.0 + x * (1.0 - s))      # d/dx x s(x) = s (1 + x (1 - s))


def train_spiral(steps, seed):
    ag.manual_seed(seed)
    x, y = make_spiral(seed=seed)
    X, onehot = ag.tensor(x), ag.tensor(np.eye(3, dtype=np.float32)[y])
    sizes = [2, 64, 64, 3]
    params = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        params += [(ag.randn(fan_in, fan_out) * (2 / fan_in) ** 0.5).requires_grad_(),
                   ag.zeros(fan_out, requires_grad=True)]
    t0 = time.perf_counter()
    for step in range(steps + 1):
        h = X
        for i in range(0, len(params), 2):
            h = h @ params[i] + params[i + 1]
            if i + 2 < len(params):
                h = Swish.apply(h)
        loss = -(h.log_softmax(dim=1) * onehot).sum(dim=1).mean()
        loss.backward()
        with ag.no_grad():
            for p in params:
                p -= 0.5 * p.grad
                p.grad = None
        if step % (steps // 5) == 0:
            acc = (h.argmax(dim=1).numpy() == y).mean()
            print(f"  step {step:4d}  loss {loss.item():.4f}  train accuracy {acc:.1%}")
    print(f"  {steps} steps in {time.perf_counter() - t0:.2f} s")
    return acc


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=300)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()

    print("1. gradcheck of the custom Swish op (float64, central differences)")
    x = ag.randn(4, 3, dtype="float64", requires_grad=True)
    print(f"  first order: {ag.gradcheck(Swish.apply, x)}, second order: {ag.gradgradcheck(Swish.apply, x)}")

    print("2. an MLP of raw tensors learning a 3-class spiral (300 points)")
    acc = train_spiral(args.steps, args.seed)

    print("3. the tape of loss = ((w * x).tanh() + b).sum(): what backward() will replay")
    w = ag.tensor([0.5, -1.0], requires_grad=True)
    b = ag.tensor([0.1, 0.2], requires_grad=True)
    loss = ((w * ag.tensor([1.0, 2.0])).tanh() + b).sum()
    print(ag.tape(loss))
    loss.backward()
    print(f"  w.grad = {w.grad.tolist()}, b.grad = {b.grad.tolist()}")
    if acc < 0.9:
        raise SystemExit(f"demo: the spiral MLP reached only {acc:.1%} train accuracy")


if __name__ == "__main__":
    main()
