"""One functional call beside PyTorch, forward and backward of its summed output: the
shape of the per-family benchmarks (bench_losses.py, bench_spatial.py)."""


def functional_workload(make_arrays, fn, grads):
    """``(setup, ours, torch)`` for ``tools/bench.py``: ``make_arrays()`` gives the named
    NumPy inputs, ``fn(lib, F, t)`` computes on ``t`` (those inputs as ``lib``'s tensors),
    and ``grads`` names (space-separated) the inputs that require grad."""
    wanted = grads.split()

    def setup():
        import autograd as ag
        import nn.functional as F
        from tools.bench import _torch
        arrays = make_arrays()
        state = {"ours": (ag, F, {k: ag.tensor(v, requires_grad=k in wanted)
                                  for k, v in arrays.items()})}
        torch = _torch()
        if torch is not None:
            import torch.nn.functional as TF
            state["torch"] = (torch, TF, {k: torch.tensor(v, requires_grad=k in wanted)
                                          for k, v in arrays.items()})
        return state

    def run(side):
        def step(state):
            lib, F, t = state[side]
            for k in wanted:
                t[k].grad = None
            fn(lib, F, t).sum().backward()
        return step

    return setup, run("ours"), run("torch")
