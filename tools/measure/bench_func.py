"""Function transforms beside PyTorch's ``torch.func`` (issue 26): per-sample gradients of
a LeNet-sized CNN over a batch of 64 by ``vmap(grad)`` and by a loop of backward passes,
and a batched Jacobian, ``vmap(jacrev)`` of a small MLP over 128 inputs.  Contributed to
``python -m tools.bench`` (``--only per-sample vmap``)."""
import numpy as np

BATCH, INPUTS = 64, 128
MLP = (16, 32, 8)


def _lenet(lib):
    """LeNet-5's shape on 28x28 MNIST-shaped images, written once over either library."""
    nn = lib.nn
    lib.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 16, 5), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(16 * 5 * 5, 120), nn.ReLU(), nn.Linear(120, 84), nn.ReLU(),
                         nn.Linear(84, 10))


def _per_sample_setup(lib, func):
    rng = np.random.default_rng(0)
    model = _lenet(lib)
    x = lib.tensor(rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32))
    y = lib.tensor(rng.integers(0, 10, BATCH))
    params = {k: v.detach() for k, v in model.named_parameters()}

    def loss(p, xi, yi):
        return lib.nn.functional.cross_entropy(func.functional_call(model, p, (xi.unsqueeze(0),)),
                                               yi.unsqueeze(0))
    return model, params, x, y, func.vmap(func.grad(loss), in_dims=(None, 0, 0))


def _loop(lib, model, x, y):
    grads = []
    for i in range(BATCH):
        model.zero_grad()
        lib.nn.functional.cross_entropy(model(x[i:i + 1]), y[i:i + 1]).backward()
        grads.append([p.grad.clone() for p in model.parameters()])
    return grads


def _mlp_jacobians(lib, func):
    rng = np.random.default_rng(1)
    w1 = lib.tensor(rng.standard_normal(MLP[:2]) / 4)
    w2 = lib.tensor(rng.standard_normal(MLP[1:]) / 6)
    xs = lib.tensor(rng.standard_normal((INPUTS, MLP[0])))
    return xs, func.vmap(func.jacrev(lambda x: ((x @ w1).tanh() @ w2).tanh()))


def workloads():
    from tools.bench import _torch
    import autograd as ag
    import autograd.func as ag_func
    torch = _torch()

    def per_sample_setup():
        state = {"ours": _per_sample_setup(ag, ag_func)}
        if torch is not None:
            state["torch"] = _per_sample_setup(torch, torch.func)
        return state

    def vmapped(s):
        _, params, x, y, fn = s
        return fn(params, x, y)

    def jac_setup():
        state = {"ours": _mlp_jacobians(ag, ag_func)}
        if torch is not None:
            state["torch"] = _mlp_jacobians(torch, torch.func)
        return state
    return {
        f"per-sample gradients, LeNet-5 on 28x28, batch {BATCH}: vmap(grad) (torch: torch.func)":
            (per_sample_setup, lambda s: vmapped(s["ours"]),
             (lambda s: vmapped(s["torch"])) if torch is not None else None),
        f"per-sample gradients, LeNet-5 on 28x28, batch {BATCH}: a loop of {BATCH} backward passes":
            (per_sample_setup, lambda s: _loop(ag, s["ours"][0], *s["ours"][2:4]),
             (lambda s: _loop(torch, s["torch"][0], *s["torch"][2:4])) if torch is not None else None),
        f"vmap(jacrev) of a {'-'.join(map(str, MLP))} tanh MLP over {INPUTS} inputs (torch: torch.func)":
            (jac_setup, lambda s: s["ours"][1](s["ours"][0]),
             (lambda s: s["torch"][1](s["torch"][0])) if torch is not None else None),
    }
