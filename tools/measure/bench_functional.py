"""The higher-order API beside PyTorch's (issue 25): Jacobians by both strategies,
a Hessian and a Hessian-vector product.  Contributed to ``python -m tools.bench``
(``--only jacobian hessian hvp``)."""
import numpy as np

SIZES = (64, 128, 64)


def _mlp(lib):
    rng = np.random.default_rng(0)
    w1 = lib.tensor(rng.standard_normal(SIZES[:2]) / 8)
    w2 = lib.tensor(rng.standard_normal(SIZES[1:]) / 11)
    return lambda x: ((x @ w1).tanh() @ w2).tanh()


def _theta_loss(lib):
    """A loss of 200 parameters: a 20x10 linear map through softplus, on fixed data."""
    rng = np.random.default_rng(1)
    x, y = lib.tensor(rng.standard_normal((32, 20))), lib.tensor(rng.standard_normal((32, 10)))
    return lambda theta: ((lib.nn.functional.softplus(x @ theta.reshape(20, 10)) - y) ** 2).mean()


def _resnet18(lib):
    """CIFAR ResNet-18 (as W4 of ../shared/bench), written once over either library's nn."""
    nn = lib.nn

    def block(cin, cout, stride):
        body = nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                             nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        short = nn.Sequential() if stride == 1 and cin == cout else nn.Sequential(
            nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        return body, short

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Sequential(nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU())
            blocks, cin = [], 64
            for si, w in enumerate((64, 128, 256, 512)):
                for bi in range(2):
                    blocks.append(block(cin, w, 2 if si > 0 and bi == 0 else 1))
                    cin = w
            self.bodies = nn.ModuleList([b for b, _ in blocks])
            self.shorts = nn.ModuleList([s for _, s in blocks])
            self.fc = nn.Linear(512, 10)

        def forward(self, x):
            x = self.stem(x)
            for body, short in zip(self.bodies, self.shorts):
                x = (body(x) + short(x)).relu()
            return self.fc(x.mean(dim=(2, 3)))
    lib.manual_seed(0)
    model = Net()
    model.eval()
    return model


def _resnet_loss(lib):
    model = _resnet18(lib)
    target = lib.tensor(np.arange(2) % 10)
    return lambda x: lib.nn.functional.cross_entropy(model(x), target)


def workloads():
    from tools.bench import _torch
    import autograd as ag
    import autograd.functional as AF
    torch = _torch()
    x0 = np.random.default_rng(2).standard_normal((1, SIZES[0]))   # a row: torch vmaps 1-d @ badly
    theta0 = np.random.default_rng(3).standard_normal(200) / 5
    img = np.random.default_rng(4).standard_normal((2, 3, 32, 32)).astype(np.float32)

    def jac_setup(strategy):
        def setup():
            state = {"ours": (_mlp(ag), ag.tensor(x0))}
            if torch is not None:
                state["torch"] = (_mlp(torch), torch.tensor(x0))
            return state
        ours = lambda s: AF.jacobian(s["ours"][0], s["ours"][1], strategy=strategy)
        theirs = (lambda s: torch.autograd.functional.jacobian(
            s["torch"][0], s["torch"][1], strategy=strategy, vectorize=strategy == "forward-mode")) \
            if torch is not None else None
        return setup, ours, theirs

    def hess_setup():
        state = {"ours": (_theta_loss(ag), ag.tensor(theta0))}
        if torch is not None:
            state["torch"] = (_theta_loss(torch), torch.tensor(theta0))
        return state

    def hvp_setup():
        state = {"ours": (_resnet_loss(ag), ag.tensor(img), ag.tensor(img))}
        if torch is not None:
            state["torch"] = (_resnet_loss(torch), torch.tensor(img), torch.tensor(img))
        return state
    return {
        "jacobian 64x64 of a 64-128-64 tanh MLP, reverse-mode": jac_setup("reverse-mode"),
        "jacobian 64x64 of a 64-128-64 tanh MLP, forward-mode (torch: vectorize=True)":
            jac_setup("forward-mode"),
        "hessian 200x200 of a 200-parameter loss":
            (hess_setup, lambda s: AF.hessian(*s["ours"]),
             (lambda s: torch.autograd.functional.hessian(*s["torch"])) if torch is not None else None),
        "hvp of a CIFAR ResNet-18 loss w.r.t. a 2x3x32x32 input (ours: forward over reverse)":
            (hvp_setup, lambda s: AF.hvp(*s["ours"]),
             (lambda s: torch.autograd.functional.hvp(*s["torch"])) if torch is not None else None),
    }
