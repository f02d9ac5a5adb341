"""nn.utils' parametrize, parametrizations (weight_norm, spectral_norm, orthogonal),
prune and fusion against PyTorch 2.13: state_dict keys, reprs, values with the states
copied across, gradients, and errors."""
import numpy as np
import pytest
import torch
import torch.nn.utils.prune  # noqa: F401  (torch.nn.utils does not import it)

import autograd as ag
import nn
import nn.utils.parametrize as P
from nn.utils import parametrizations, prune

RNG = np.random.default_rng(0)


def _copy_state(ours, theirs):
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})


def _same_forward_and_grads(ours, theirs, x):
    out, ref = ours(ag.tensor(x)), theirs(torch.tensor(x))
    np.testing.assert_allclose(out.array, ref.detach().numpy(), rtol=1e-7, atol=1e-10)
    r = RNG.standard_normal(ref.shape)
    (out * ag.tensor(r)).sum().backward()
    (ref * torch.tensor(r)).sum().backward()
    theirs_grads = {k: p.grad for k, p in theirs.named_parameters()}
    for k, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.array, theirs_grads[k].numpy(), rtol=1e-6, atol=1e-10, err_msg=k)


class Symmetric(nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).mT


class TorchSymmetric(torch.nn.Module):
    def forward(self, x):
        return x.triu() + x.triu(1).mT


def test_register_parametrization_as_pytorch():
    ours, theirs = nn.Linear(3, 3).double(), torch.nn.Linear(3, 3).double()
    P.register_parametrization(ours, "weight", Symmetric())
    torch.nn.utils.parametrize.register_parametrization(theirs, "weight", TorchSymmetric())
    assert type(ours).__name__ == type(theirs).__name__ == "ParametrizedLinear"
    assert isinstance(ours, nn.Linear) and P.type_before_parametrizations(ours) is nn.Linear
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "parametrizations.weight.original"]
    _copy_state(ours, theirs)
    np.testing.assert_allclose(ours.weight.array, ours.weight.array.T)
    _same_forward_and_grads(ours, theirs, RNG.standard_normal((2, 3)))
    assert P.is_parametrized(ours) and P.is_parametrized(ours, "weight") and not P.is_parametrized(ours, "bias")
    with P.cached():
        assert ours.weight is ours.weight
    assert ours.weight is not ours.weight
    P.remove_parametrizations(ours, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    assert type(ours) is nn.Linear and list(ours.state_dict()) == list(theirs.state_dict())
    assert isinstance(ours.weight, nn.Parameter)
    np.testing.assert_allclose(ours.weight.array, ours.weight.array.T)


class Scale(nn.Module):
    """x * 2 with its right inverse, so assignment and chaining can be checked."""
    def forward(self, x):
        return x * 2

    def right_inverse(self, x):
        return x / 2


def test_assignment_chaining_and_errors():
    m = nn.Linear(2, 2)
    P.register_parametrization(m, "weight", Scale())
    P.register_parametrization(m, "weight", Scale())
    target = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    m.weight = target
    np.testing.assert_allclose(m.parametrizations.weight.original.array, target.array / 4)
    np.testing.assert_allclose(m.weight.array, target.array)
    P.remove_parametrizations(m, "weight", leave_parametrized=False)
    np.testing.assert_allclose(m.weight.array, target.array / 4)
    with pytest.raises(ValueError, match="does not have a parametrization"):
        P.remove_parametrizations(m, "weight")
    with pytest.raises(ValueError, match="may not change the shape"):
        P.register_parametrization(nn.Linear(2, 3), "weight", type("Flat", (nn.Module,), {
            "forward": lambda self, x: x.reshape(-1)})())
    with pytest.raises(ValueError, match="no_such"):
        P.register_parametrization(nn.Linear(2, 3), "no_such", Scale())


@pytest.mark.parametrize("dim", [0, 1, None])
def test_weight_norm_matches(dim):
    theirs = torch.nn.utils.parametrizations.weight_norm(torch.nn.Linear(4, 3).double(), dim=dim)
    ours = parametrizations.weight_norm(nn.Linear(4, 3).double(), dim=dim)
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    g = ours.parametrizations.weight.original0
    assert g.shape == tuple(theirs.parametrizations.weight.original0.shape)
    _copy_state(ours, theirs)
    _same_forward_and_grads(ours, theirs, RNG.standard_normal((5, 4)))
    P.remove_parametrizations(ours, "weight")
    torch.nn.utils.parametrize.remove_parametrizations(theirs, "weight")
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy(), rtol=1e-7)


def test_weight_norm_of_a_convolution_and_its_initial_value():
    conv = nn.Conv2d(2, 3, 3)
    w = conv.weight.array.copy()
    parametrizations.weight_norm(conv)
    np.testing.assert_allclose(conv.weight.array, w, rtol=1e-6)        # g ||v|| / ||v|| = W at first
    theirs = torch.nn.utils.parametrizations.weight_norm(torch.nn.Conv2d(2, 3, 3))
    assert list(conv.state_dict()) == list(theirs.state_dict())
    assert conv.parametrizations.weight.original0.shape == (3, 1, 1, 1)


@pytest.mark.parametrize("make", [lambda m: m.Linear(5, 3), lambda m: m.Conv2d(2, 4, 3)])
def test_spectral_norm_matches(make):
    theirs = torch.nn.utils.parametrizations.spectral_norm(make(torch.nn).double())
    ours = parametrizations.spectral_norm(make(nn).double())
    assert list(ours.state_dict()) == list(theirs.state_dict())
    _copy_state(ours, theirs)
    x = RNG.standard_normal((2, 5) if isinstance(ours, nn.Linear) else (1, 2, 6, 6))
    for training in [True, True, False]:                 # power iterations update u, v in training
        ours.train(training)
        theirs.train(training)
        _same_forward_and_grads(ours, theirs, x)
        np.testing.assert_allclose(ours.parametrizations.weight[0]._u.array,
                                   theirs.parametrizations.weight[0]._u.numpy(), rtol=1e-7)
    w = ours.weight.array.reshape(ours.weight.shape[0], -1)
    assert abs(np.linalg.svd(w, compute_uv=False)[0] - 1) < 0.05    # spectral norm near 1


@pytest.mark.parametrize("shape,orthogonal_map", [((3, 3), None), ((4, 3), None), ((3, 5), None),
                                                  ((3, 3), "cayley"), ((5, 3), "householder")])
def test_orthogonal_matches(shape, orthogonal_map):
    theirs = torch.nn.utils.parametrizations.orthogonal(torch.nn.Linear(shape[1], shape[0]).double(),
                                                        orthogonal_map=orthogonal_map)
    ours = parametrizations.orthogonal(nn.Linear(shape[1], shape[0]).double(), orthogonal_map=orthogonal_map)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    q = ours.weight.array
    small = min(shape)
    gram = q.T @ q if shape[0] >= shape[1] else q @ q.T
    np.testing.assert_allclose(gram, np.eye(small), atol=1e-10)
    _copy_state(ours, theirs)
    with torch.no_grad():                                 # move away from the identity start
        theirs.parametrizations.weight.original.add_(0.3 * torch.randn(shape, dtype=torch.float64))
    _copy_state(ours, theirs)
    _same_forward_and_grads(ours, theirs, RNG.standard_normal((2, shape[1])))


def test_orthogonal_without_trivialization_and_errors():
    ours = parametrizations.orthogonal(nn.Linear(3, 5).double(), use_trivialization=False)
    theirs = torch.nn.utils.parametrizations.orthogonal(torch.nn.Linear(3, 5).double(),
                                                        use_trivialization=False)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "parametrizations.weight.original"]
    _copy_state(ours, theirs)
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy(), rtol=1e-7, atol=1e-12)
    q, _ = np.linalg.qr(RNG.standard_normal((5, 3)))
    ours.weight = ag.tensor(q)                            # assignment stores Householder reflectors
    np.testing.assert_allclose(ours.weight.array, q, atol=1e-10)
    with pytest.raises(ValueError, match="matrix or batch of matrices"):
        parametrizations.orthogonal(nn.Linear(3, 5), "bias")
    with pytest.raises(ValueError, match="orthogonal_map"):
        parametrizations.orthogonal(nn.Linear(3, 5), orthogonal_map="qr")


# -- prune -----------------------------------------------------------------------------------
def _twins(seed=0):
    theirs = torch.nn.Linear(6, 4).double()
    ours = nn.Linear(6, 4).double()
    _copy_state(ours, theirs)
    return ours, theirs


def test_l1_unstructured_matches_and_iterates():
    ours, theirs = _twins()
    prune.l1_unstructured(ours, "weight", amount=0.3)
    torch.nn.utils.prune.l1_unstructured(theirs, "weight", amount=0.3)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight_orig", "weight_mask"]
    np.testing.assert_array_equal(ours.weight_mask.array, theirs.weight_mask.numpy())
    prune.l1_unstructured(ours, "weight", amount=5)       # of what is left: a PruningContainer
    torch.nn.utils.prune.l1_unstructured(theirs, "weight", amount=5)
    np.testing.assert_array_equal(ours.weight_mask.array, theirs.weight_mask.numpy())
    assert isinstance([h for h in ours._forward_pre_hooks.values()][0], prune.PruningContainer)
    _same_forward_and_grads(ours, theirs, RNG.standard_normal((3, 6)))
    assert np.all(ours.weight_orig.grad.array[ours.weight_mask.array == 0] == 0)
    assert prune.is_pruned(ours) and not prune.is_pruned(nn.Linear(2, 2))
    prune.remove(ours, "weight")
    torch.nn.utils.prune.remove(theirs, "weight")
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight"]
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy())
    assert isinstance(ours.weight, nn.Parameter) and not prune.is_pruned(ours)


@pytest.mark.parametrize("n,dim", [(1, 0), (2, 1), (float("inf"), -1), ("fro", 0)])
def test_ln_structured_matches(n, dim):
    ours, theirs = _twins()
    prune.ln_structured(ours, "weight", amount=0.5, n=n, dim=dim)
    torch.nn.utils.prune.ln_structured(theirs, "weight", amount=0.5, n=n, dim=dim)
    np.testing.assert_array_equal(ours.weight_mask.array, theirs.weight_mask.numpy())
    prune.ln_structured(ours, "weight", amount=1, n=n, dim=dim)
    torch.nn.utils.prune.ln_structured(theirs, "weight", amount=1, n=n, dim=dim)
    np.testing.assert_array_equal(ours.weight_mask.array, theirs.weight_mask.numpy())


def test_global_custom_and_random_pruning():
    pairs = [_twins(), _twins()]
    ours = [(o, "weight") for o, _ in pairs] + [(pairs[0][0], "bias")]
    theirs = [(t, "weight") for _, t in pairs] + [(pairs[0][1], "bias")]
    prune.global_unstructured(ours, prune.L1Unstructured, amount=0.4)
    torch.nn.utils.prune.global_unstructured(theirs, torch.nn.utils.prune.L1Unstructured, amount=0.4)
    for (o, name), (t, _) in zip(ours, theirs):
        np.testing.assert_array_equal(getattr(o, name + "_mask").array, getattr(t, name + "_mask").numpy())
    mask = (RNG.random((4, 6)) > 0.5) * 1.0
    o, t = _twins()
    prune.custom_from_mask(o, "weight", ag.tensor(mask))
    torch.nn.utils.prune.custom_from_mask(t, "weight", torch.tensor(mask))
    np.testing.assert_allclose(o.weight.array, t.weight.detach().numpy())
    r = nn.Linear(10, 10)
    prune.random_unstructured(r, "weight", amount=0.25)
    assert (r.weight_mask.array == 0).sum() == 25
    prune.random_structured(r, "weight", amount=3, dim=0)
    assert (r.weight_mask.array.sum(1) == 0).sum() >= 3
    with pytest.raises(ValueError, match="amount=11 should be smaller"):
        prune.l1_unstructured(nn.Linear(2, 5), "bias", amount=11)
    with pytest.raises(ValueError, match="amount=1.5"):
        prune.l1_unstructured(nn.Linear(2, 5), "bias", amount=1.5)
    with pytest.raises(ValueError, match="has to be pruned"):
        prune.remove(nn.Linear(2, 2), "weight")
    lin = nn.Linear(2, 5)
    with pytest.raises(ValueError, match="amount=11"):
        prune.l1_unstructured(lin, "bias", amount=11)
    assert list(lin.state_dict()) == ["weight", "bias"]   # a failed prune leaves the module as it was


# -- fusion ----------------------------------------------------------------------------------
def test_fuse_conv_bn_and_linear_bn_match():
    tconv, tbn = torch.nn.Conv2d(2, 3, 3).double().eval(), torch.nn.BatchNorm2d(3).double().eval()
    with torch.no_grad():
        tbn.running_mean.normal_()
        tbn.running_var.uniform_(0.5, 2)
        tbn.weight.normal_()
        tbn.bias.normal_()
    conv, bn = nn.Conv2d(2, 3, 3).double().eval(), nn.BatchNorm2d(3).double().eval()
    _copy_state(conv, tconv)
    _copy_state(bn, tbn)
    fused = nn.utils.fuse_conv_bn_eval(conv, bn)
    theirs = torch.nn.utils.fuse_conv_bn_eval(tconv, tbn)
    x = RNG.standard_normal((1, 2, 5, 5))
    np.testing.assert_allclose(fused(ag.tensor(x)).array, theirs(torch.tensor(x)).detach().numpy(), rtol=1e-7)
    np.testing.assert_allclose(fused(ag.tensor(x)).array, bn(conv(ag.tensor(x))).array, rtol=1e-7)
    assert fused is not conv and conv.weight.array is not fused.weight.array
    tlin, tbn1 = torch.nn.Linear(4, 3, bias=False).double().eval(), torch.nn.BatchNorm1d(3).double().eval()
    with torch.no_grad():
        tbn1.running_mean.normal_()
    lin, bn1 = nn.Linear(4, 3, bias=False).double().eval(), nn.BatchNorm1d(3).double().eval()
    _copy_state(lin, tlin)
    _copy_state(bn1, tbn1)
    x = RNG.standard_normal((2, 4))
    np.testing.assert_allclose(nn.utils.fuse_linear_bn_eval(lin, bn1)(ag.tensor(x)).array,
                               torch.nn.utils.fuse_linear_bn_eval(tlin, tbn1)(torch.tensor(x)).detach().numpy(),
                               rtol=1e-7)
    with pytest.raises(ValueError, match="fuse_conv_bn_eval: fusion only for eval"):
        nn.utils.fuse_conv_bn_eval(conv.train(), bn)


def test_clip_grad_value_and_parameter_vectors_match():
    ours, theirs = nn.Linear(4, 3).double(), torch.nn.Linear(4, 3).double()
    _copy_state(ours, theirs)
    x = RNG.standard_normal((5, 4)) * 3
    ours(ag.tensor(x)).pow(2).sum().backward()
    theirs(torch.tensor(x)).pow(2).sum().backward()
    nn.utils.clip_grad_value_(ours.parameters(), 0.5)
    torch.nn.utils.clip_grad_value_(theirs.parameters(), 0.5)
    for a, b in zip(ours.parameters(), theirs.parameters()):
        np.testing.assert_allclose(a.grad.array, b.grad.numpy())
    vec = nn.utils.parameters_to_vector(ours.parameters())
    np.testing.assert_allclose(vec.array, torch.nn.utils.parameters_to_vector(theirs.parameters()).detach().numpy())
    nn.utils.vector_to_parameters(vec * 2, ours.parameters())
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy() * 2)


def test_hook_forms_of_weight_and_spectral_norm_match():
    """nn.utils.weight_norm / spectral_norm (deprecated in PyTorch, still in old models)."""
    theirs, ours = torch.nn.Linear(4, 3).double(), nn.Linear(4, 3).double()
    _copy_state(ours, theirs)
    with pytest.warns(FutureWarning):
        torch.nn.utils.weight_norm(theirs)
    with pytest.warns(FutureWarning):
        nn.utils.weight_norm(ours)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight_g", "weight_v"]
    _copy_state(ours, theirs)
    _same_forward_and_grads(ours, theirs, RNG.standard_normal((2, 4)))
    nn.utils.remove_weight_norm(ours)
    torch.nn.utils.remove_weight_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy())
    theirs, ours = torch.nn.utils.spectral_norm(torch.nn.Conv2d(2, 3, 3).double()), nn.Conv2d(2, 3, 3).double()
    nn.utils.spectral_norm(ours)
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["bias", "weight_orig", "weight_u", "weight_v"]
    _copy_state(ours, theirs)
    x = RNG.standard_normal((1, 2, 5, 5))
    for training in [True, False]:
        ours.train(training)
        theirs.train(training)
        _same_forward_and_grads(ours, theirs, x)
        np.testing.assert_allclose(ours.weight_u.array, theirs.weight_u.numpy(), rtol=1e-7)
    nn.utils.remove_spectral_norm(ours)
    torch.nn.utils.remove_spectral_norm(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    np.testing.assert_allclose(ours.weight.array, theirs.weight.detach().numpy(), rtol=1e-7)
    with pytest.raises(ValueError, match="spectral_norm of 'weight' not found"):
        nn.utils.remove_spectral_norm(ours)


def test_get_total_norm_and_clip_grads_with_norm_match():
    grads = [RNG.standard_normal((3, 4)), RNG.standard_normal(5)]
    for norm_type in [2.0, 1.0, float("inf"), 3.0]:
        ours = nn.utils.get_total_norm([ag.tensor(g) for g in grads], norm_type)
        theirs = torch.nn.utils.get_total_norm([torch.tensor(g) for g in grads], norm_type)
        np.testing.assert_allclose(ours.array, theirs.numpy(), rtol=1e-12)
    ours_p = [nn.Parameter(np.zeros(g.shape)) for g in grads]
    theirs_p = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for o, t, g in zip(ours_p, theirs_p, grads):
        o.grad, t.grad = ag.tensor(g.copy()), torch.tensor(g.copy())
    nn.utils.clip_grads_with_norm_(ours_p, 1.0, nn.utils.get_total_norm([p.grad for p in ours_p]))
    torch.nn.utils.clip_grads_with_norm_(theirs_p, 1.0, torch.nn.utils.get_total_norm([p.grad for p in theirs_p]))
    for o, t in zip(ours_p, theirs_p):
        np.testing.assert_allclose(o.grad.array, t.grad.numpy(), rtol=1e-12)
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.get_total_norm([ag.tensor([np.inf])], error_if_nonfinite=True)
