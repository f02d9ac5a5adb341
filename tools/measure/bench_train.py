"""Training-loop workloads for tools/bench.py: LeNet-5 on MNIST-shaped batches.

One iteration = one optimizer step of the loop ``tools.train`` runs (forward,
cross-entropy, zero_grad, backward, Adam step), batch 128, same initial weights in
both libraries.  Multiply by 469 for the time of one MNIST epoch.  The loader
workload times one batch of 128 from an in-memory MNIST-sized uint8 set (shuffled,
converted to float32 and normalised), ours vs torch's DataLoader over a TensorDataset.
"""
import numpy as np

BATCH = 128


def _lenet_setup():
    import autograd as ag
    import optim
    from nn.models import LeNet5
    ag.manual_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((BATCH, 1, 28, 28), dtype=np.float32)
    y = rng.integers(0, 10, BATCH)
    model = LeNet5()
    state = {"model": model, "opt": optim.Adam(model.parameters(), lr=1e-3),
             "x": ag.tensor(x), "y": ag.tensor(y)}
    try:
        import torch
    except ImportError:
        return state
    tm = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.Tanh(), torch.nn.AvgPool2d(2),
        torch.nn.Conv2d(6, 16, 5), torch.nn.Tanh(), torch.nn.AvgPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(400, 120), torch.nn.Tanh(), torch.nn.Linear(120, 84), torch.nn.Tanh(),
        torch.nn.Linear(84, 10))
    with torch.no_grad():      # same initial weights, in parameter order
        for tp, op in zip(tm.parameters(), model.parameters()):
            tp.copy_(torch.from_numpy(np.array(op.array)))
    state.update(tmodel=tm, topt=torch.optim.Adam(tm.parameters(), lr=1e-3),
                 tx=torch.from_numpy(x), ty=torch.from_numpy(y))
    return state


def _lenet_ours(s):
    import nn.functional as F
    loss = F.cross_entropy(s["model"](s["x"]), s["y"])
    s["opt"].zero_grad()
    loss.backward()
    s["opt"].step()


def _lenet_torch(s):
    import torch.nn.functional as TF
    loss = TF.cross_entropy(s["tmodel"](s["tx"]), s["ty"])
    s["topt"].zero_grad()
    loss.backward()
    s["topt"].step()


def _loader_setup():
    from autograd.data import DataLoader, TensorDataset, transforms
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (60000, 1, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 60000)

    class U8(TensorDataset):        # MNIST's conversion: uint8 -> float32 / 255 per batch
        def _convert(self, arrays):
            return arrays[0].astype(np.float32) / 255, arrays[1]

    ds = U8(images, labels, transform=transforms.Normalize((0.1307,), (0.3081,), inplace=True))
    state = {"it": iter(()), "loader": DataLoader(ds, batch_size=BATCH, shuffle=True, generator=0)}
    try:
        import torch
        tds = torch.utils.data.TensorDataset(torch.from_numpy(images), torch.from_numpy(labels))

        def collate(samples):
            x = torch.stack([s[0] for s in samples]).float().div_(255).sub_(0.1307).div_(0.3081)
            return x, torch.stack([s[1] for s in samples])

        state.update(tit=iter(()), tloader=torch.utils.data.DataLoader(tds, batch_size=BATCH, shuffle=True,
                                                                       collate_fn=collate))
    except ImportError:
        pass
    return state


def _next(s, it_key, loader_key):
    try:
        return next(s[it_key])
    except StopIteration:
        s[it_key] = iter(s[loader_key])
        return next(s[it_key])


def workloads():
    try:
        import torch  # noqa: F401
        has_torch = True
    except ImportError:
        has_torch = False
    return {
        f"LeNet-5 train step (Adam), batch {BATCH}, 1x28x28 (x469 = one MNIST epoch)":
            (_lenet_setup, _lenet_ours, _lenet_torch if has_torch else None),
        f"DataLoader: one shuffled, normalised MNIST-sized batch of {BATCH}":
            (_loader_setup, lambda s: _next(s, "it", "loader"),
             (lambda s: _next(s, "tit", "tloader")) if has_torch else None),
    }
