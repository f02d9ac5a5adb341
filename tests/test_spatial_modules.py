"""The spatial family's modules (issue 27) against torch.nn 2.13: parameter names and
shapes, state_dict keys, default initialisation, reprs, and outputs and input/parameter
gradients with PyTorch's weights copied across."""
import numpy as np
import pytest
import torch

import autograd as ag
import nn
from nn.layers.normalization_nd import cross_map_window
from tests.nn_helpers import check_module

tn = torch.nn

# (constructor args, input shape): built the same way from both libraries
CASES = [
    ("Conv3d", (2, 4, (3, 2, 2)), dict(stride=(1, 2, 1), padding=1, groups=2), (2, 2, 4, 5, 4)),
    ("Conv3d", (2, 3, 2), dict(padding="same", padding_mode="replicate", bias=False),
     (1, 2, 3, 4, 3)),
    ("Conv3d", (2, 3, 3), dict(padding=1, padding_mode="circular"), (2, 3, 4, 4)),
    ("Conv1d", (2, 3, 3), dict(padding=2, padding_mode="reflect"), (2, 2, 6)),
    ("ConvTranspose1d", (4, 2, 3), dict(stride=2, padding=1, output_padding=1, groups=2),
     (2, 4, 5)),
    ("ConvTranspose3d", (2, 3, (2, 3, 2)), dict(stride=2, dilation=(1, 1, 2)), (1, 2, 3, 2, 3)),
    ("Fold", ((4, 5), (2, 3)), dict(padding=1), (2, 12, 25)),
    ("Unfold", ((2, 3),), dict(stride=(1, 2), dilation=(2, 1)), (2, 2, 5, 6)),
    ("MaxPool3d", (2,), dict(stride=1, padding=1), (2, 2, 3, 4, 3)),
    ("AvgPool1d", (3,), dict(stride=2, padding=1, count_include_pad=False), (2, 3, 7)),
    ("AvgPool3d", ((2, 3, 2),), dict(ceil_mode=True, divisor_override=4), (1, 2, 3, 5, 4)),
    ("LPPool1d", (2, 3), dict(stride=2), (2, 3, 7)),
    ("LPPool3d", (3, 2), {}, (1, 2, 4, 4, 4)),
    ("AdaptiveAvgPool1d", (3,), {}, (2, 3, 7)),
    ("AdaptiveAvgPool3d", ((2, None, 3),), {}, (2, 2, 5, 3, 7)),
    ("AdaptiveMaxPool1d", (4,), {}, (3, 9)),
    ("AdaptiveMaxPool3d", (2,), dict(return_indices=True), (1, 2, 5, 3, 4)),
    ("BatchNorm3d", (3,), {}, (2, 3, 2, 3, 2)),
    ("InstanceNorm1d", (3,), dict(affine=True, track_running_stats=True), (2, 3, 5)),
    ("InstanceNorm3d", (2,), {}, (2, 3, 2, 4)),
    ("UpsamplingNearest2d", (), dict(scale_factor=2), (1, 2, 3, 4)),
    ("UpsamplingBilinear2d", (), dict(size=(5, 3)), (1, 2, 3, 4)),
    ("Upsample", (), dict(scale_factor=(1.5, 2, 0.5), mode="trilinear"), (1, 2, 3, 2, 4)),
    ("PixelShuffle", (2,), {}, (2, 8, 3, 2)),
    ("PixelUnshuffle", (2,), {}, (2, 2, 4, 6)),
    ("ChannelShuffle", (3,), {}, (2, 6, 2, 2)),
    ("CrossMapLRN2d", (3,), dict(alpha=0.5, k=2), (2, 3, 3, 2)),
] + [(f"{kind}Pad{nd}d", (pad,), {}, shape)
     for nd, pad, shape in [(1, (2, 1), (2, 3, 5)), (2, (1, 2, 0, 2), (3, 4, 5)),
                            (3, 1, (1, 2, 3, 2, 4))]
     for kind in ("Zero", "Reflection", "Replication", "Circular")] + [
    ("ConstantPad1d", (3, 1.5), {}, (2, 4)),
    ("ConstantPad2d", ((1, 0, 2, 1), -1.0), {}, (1, 2, 3, 3)),
    ("ConstantPad3d", (1, 0.5), {}, (2, 2, 2, 2))]


def _build(case):
    name, args, kwargs, shape = case
    return getattr(nn, name)(*args, **kwargs), getattr(tn, name)(*args, **kwargs), shape


@pytest.mark.parametrize("case", CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_module_matches_pytorch(case):
    ours, theirs, shape = _build(case)
    assert repr(ours) == repr(theirs) or case[0] in ("BatchNorm3d", "InstanceNorm1d",
                                                     "InstanceNorm3d")   # no bias= in our repr
    assert list(ours.state_dict()) == list(theirs.state_dict())
    for (a, p), (b, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert a == b and p.shape == tuple(q.shape)
    theirs.double()
    ours.double().load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal(shape)
    if case[0].startswith("LPPool"):
        x = np.abs(x) + 0.1
    xa, xt = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, t = ours(xa), theirs(xt)
    if isinstance(t, tuple):
        np.testing.assert_array_equal(y[1].array, t[1].numpy())
        y, t = y[0], t[0]
    np.testing.assert_allclose(y.array, t.detach().numpy(), rtol=1e-7, atol=1e-10)
    if case[0] == "CrossMapLRN2d":
        return     # PyTorch's hand-written backward is not its forward's (see the next test)
    r = np.random.default_rng(1).standard_normal(t.shape)
    (y * ag.tensor(r)).sum().backward()
    (t * torch.tensor(r)).sum().backward()
    np.testing.assert_allclose(xa.grad.array, xt.grad.numpy(), rtol=1e-7, atol=1e-10)
    for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters()):
        np.testing.assert_allclose(p.grad.array, q.grad.numpy(), rtol=1e-7, atol=1e-10)
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        np.testing.assert_allclose(np.asarray(a), b.numpy(), err_msg=k)    # running stats


def test_cross_map_lrn2d_gradient_is_its_forwards():
    """The forward replays PyTorch's running window (channel 0 is never dropped); the
    gradient is checked numerically, not against PyTorch's symmetric-window backward."""
    np.testing.assert_array_equal(cross_map_window(5, 3), [[1, 1, 0, 0, 0], [1, 1, 1, 0, 0],
                                                           [1, 1, 1, 1, 0], [1, 0, 1, 1, 1],
                                                           [1, 0, 0, 1, 1]])
    x = ag.tensor(np.random.default_rng(2).standard_normal((2, 5, 2, 2)), requires_grad=True)
    check_module(nn.CrossMapLRN2d(3, alpha=0.5, beta=0.75, k=1.5), x, gradgrad=True)
    with pytest.raises(ValueError, match="CrossMapLRN2d\\): expected a 4-d input"):
        nn.CrossMapLRN2d(3)(ag.zeros(2, 3, 4))


@pytest.mark.parametrize("name, args", [("Conv3d", (4, 6, (3, 2, 2))),
                                        ("ConvTranspose1d", (4, 6, 3)),
                                        ("ConvTranspose3d", (4, 6, 2))])
def test_conv_default_init_is_pytorchs(name, args):
    """kaiming_uniform(a=sqrt(5)): weight and bias uniform on +-1/sqrt(fan_in), fan_in
    from the weight's dim 1 times the kernel size (as PyTorch, for transposes too)."""
    ag.manual_seed(0)
    m, t = getattr(nn, name)(*args), getattr(tn, name)(*args)
    fan_in = t.weight.shape[1] * int(np.prod(t.weight.shape[2:]))
    bound = 1 / np.sqrt(fan_in)
    for p in (m.weight, m.bias):
        a = p.array
        assert a.dtype == np.float32 and np.abs(a).max() <= bound
        assert np.abs(a).max() > 0.8 * bound          # spread over the interval
    assert abs(m.weight.array.std() - bound / np.sqrt(3)) < 0.15 * bound


def test_conv_transpose_output_size_and_modules_check_inputs():
    m, t = nn.ConvTranspose3d(2, 2, 3, stride=2), tn.ConvTranspose3d(2, 2, 3, stride=2)
    x = np.random.default_rng(0).standard_normal((1, 2, 3, 3, 3)).astype(np.float32)
    assert m(ag.tensor(x), output_size=(8, 7, 8)).shape == tuple(
        t(torch.tensor(x), output_size=(8, 7, 8)).shape)
    with pytest.raises(ValueError, match=r"ConvTranspose3d\): expected input of shape \(N, 2, D, H, W\)"):
        m(ag.zeros(1, 3, 3, 3, 3))
    with pytest.raises(ValueError, match="ReflectionPad2d\\): expected a 3-d or 4-d input"):
        nn.ReflectionPad2d(1)(ag.zeros(3, 3))
    with pytest.raises(ValueError, match="BatchNorm3d\\): expected input of shape"):
        nn.BatchNorm3d(3)(ag.zeros(2, 3, 4, 4))
    with pytest.raises(ValueError, match="padding_mode must be one of"):
        nn.Conv3d(2, 2, 2, padding_mode="mirror")


def test_dropout3d_and_feature_alpha_dropout_modules():
    ag.manual_seed(0)
    d3, fa = nn.Dropout3d(0.5), nn.FeatureAlphaDropout(0.2)
    assert repr(d3) == repr(tn.Dropout3d(0.5)) and repr(fa) == repr(tn.FeatureAlphaDropout(0.2))
    y = d3(ag.ones(3, 4, 2, 2, 2)).array.reshape(12, -1)
    assert (y.min(1) == y.max(1)).all() and set(np.unique(y)) <= {0.0, 2.0}
    z = fa(ag.ones(6, 5, 3)).array
    assert (z.min(-1) == z.max(-1)).all()
    d3.eval(), fa.eval()
    x = ag.ones(2, 2, 2, 2, 2)
    assert d3(x) is x and fa(x) is x
