"""Layout and diagonal ops (autograd/ops/layout.py, diagonal.py) against PyTorch 2.13:
values and gradients on ordinary, size-1, zero-size and non-finite inputs, and the
errors, which name the op.  The registry sweep gradchecks and gradgradchecks them."""
import warnings

import numpy as np
import pytest
import torch

import autograd as ag
from torch_compare import compare

rng = np.random.default_rng(0)
A34 = rng.standard_normal((3, 4))
A234 = rng.standard_normal((2, 3, 4))
V3, V4 = rng.standard_normal(3), rng.standard_normal(4)
EMPTY = np.zeros((0, 3))
NONFINITE = np.array([[np.inf, 1.0, np.nan], [-np.inf, 0.0, 2.0], [3.0, np.nan, -1.0]])
S = np.array(1.5)


def case(name, fn, *inputs, **kw):
    return pytest.param(fn, inputs, kw, id=name)


CASES = [
    case("movedim", lambda m, x: m.movedim(x, 0, -1), A234),
    case("movedim-tuple", lambda m, x: m.movedim(x, (0, 1), (2, 0)), A234),
    case("moveaxis-method", lambda m, x: x.moveaxis(-1, 0), A234),
    case("movedim-0d", lambda m, x: m.movedim(x, 0, 0), S),
    case("swapaxes", lambda m, x: m.swapaxes(x, 0, 2), A234),
    case("swapdims-method", lambda m, x: x.swapdims(-1, 1), A234),
    case("narrow", lambda m, x: m.narrow(x, 1, 1, 2), A34),
    case("narrow-negative-start", lambda m, x: x.narrow(0, -2, 2), A34),
    case("narrow-empty", lambda m, x: m.narrow(x, 1, 4, 0), A34),
    case("narrow-tensor-start", lambda m, x: m.narrow(x, 1, m.tensor(1), 3), A34),
    case("select", lambda m, x: m.select(x, 1, -1), A234),
    case("select-method", lambda m, x: x.select(0, 2), A34),
    case("tile", lambda m, x: m.tile(x, (2,)), A34),
    case("tile-more-dims", lambda m, x: x.tile((2, 1, 2)), V3),
    case("tile-zero", lambda m, x: m.tile(x, (0, 2)), A34),
    case("ravel", lambda m, x: m.ravel(x.mT), A34),
    case("unflatten", lambda m, x: m.unflatten(x, 1, (2, -1)), A34),
    case("sum_to_size", lambda m, x: x.sum_to_size(1, 4), A34),
    case("sum_to_size-tuple", lambda m, x: x.sum_to_size((3, 1)), A34),
    case("atleast_1d", lambda m, x: m.atleast_1d(x), S),
    case("atleast_2d", lambda m, x, y: m.atleast_2d(x, y), S, V3),
    case("atleast_3d", lambda m, x, y, z: m.atleast_3d(x, y, z), S, V3, A34),
    case("atleast_3d-list", lambda m, x, y: m.atleast_3d([x, y]), V3, A234),
    case("hstack", lambda m, x, y: m.hstack([x, y]), A34, A34[:, :1]),
    case("hstack-1d", lambda m, x, y: m.hstack((x, y)), V3, V4),
    case("vstack", lambda m, x, y: m.vstack([x, y]), A34, V4),
    case("row_stack", lambda m, x, y: m.row_stack([x, y]), V4, V4),
    case("dstack", lambda m, x, y: m.dstack([x, y]), A34, A34),
    case("column_stack", lambda m, x, y, z: m.column_stack([x, y, z]), V3, A34[:, :2], V3),
    case("column_stack-0d", lambda m, x: m.column_stack([x, x]), S),
    case("tensor_split-sections", lambda m, x: m.tensor_split(x, 3), rng.standard_normal(7)),
    case("tensor_split-more-sections-than-elements", lambda m, x: m.tensor_split(x, 5, dim=1), A34),
    case("tensor_split-indices", lambda m, x: x.tensor_split([1, 3], dim=1), A34),
    case("tensor_split-overlapping", lambda m, x: m.tensor_split(x, [3, 1, 9]), rng.standard_normal(5)),
    case("tensor_split-negative", lambda m, x: m.tensor_split(x, [-1]), A34),
    case("tensor_split-tensor-sections", lambda m, x: m.tensor_split(x, m.tensor(2)), A34),
    case("tensor_split-tensor-indices", lambda m, x: m.tensor_split(x, m.tensor([1]), 1), A34),
    case("hsplit", lambda m, x: m.hsplit(x, 2), A34),
    case("hsplit-1d", lambda m, x: m.hsplit(x, [1]), V4),
    case("vsplit", lambda m, x: x.vsplit([1, 2]), A34),
    case("dsplit", lambda m, x: m.dsplit(x, 2), A234),
    case("split_with_sizes", lambda m, x: m.split_with_sizes(x, [1, 0, 3], dim=1), A34),
    case("broadcast_tensors", lambda m, x, y, z: m.broadcast_tensors(x, y, z), A34[:, :1], V4, S),
    case("meshgrid-ij", lambda m, x, y: m.meshgrid(x, y, indexing="ij"), V3, V4),
    case("meshgrid-xy", lambda m, x, y, z: m.meshgrid(x, y, z, indexing="xy"), V3, V4, V3[:2]),
    case("meshgrid-list", lambda m, x, y: m.meshgrid([x, y], indexing="ij"), V3, S),
    case("cartesian_prod", lambda m, x, y: m.cartesian_prod(x, y), V3, V4[:2]),
    case("cartesian_prod-one", lambda m, x: m.cartesian_prod(x), V3),
    case("combinations", lambda m, x: m.combinations(x), V4),
    case("combinations-r3", lambda m, x: m.combinations(x, 3), V4),
    case("combinations-replacement", lambda m, x: m.combinations(x, 2, with_replacement=True), V3),
    case("combinations-r-too-large", lambda m, x: m.combinations(x, r=4), V3),
    case("rot90", lambda m, x: m.rot90(x), A34),
    case("rot90-k2", lambda m, x: x.rot90(2, [1, 2]), A234),
    case("rot90-k3", lambda m, x: m.rot90(x, 3, (2, 0)), A234),
    case("rot90-negative-k", lambda m, x: m.rot90(x, -1), A34),
    case("rot90-k4", lambda m, x: m.rot90(x, 4), A34),
    case("fliplr", lambda m, x: m.fliplr(x), A234),
    case("flipud", lambda m, x: x.flipud(), V3),
    case("block_diag", lambda m, x, y, z: m.block_diag(x, y, z), A34, S, V3),
    case("block_diag-empty-block", lambda m, x, y: m.block_diag(x, y), A34[:2, :2], EMPTY.T),
    case("as_strided", lambda m, x: m.as_strided(x, (2, 2), (4, 1)), A34),
    case("as_strided-overlap", lambda m, x: x.as_strided((2, 2), (1, 1), 1), V4),
    case("as_strided-zero-stride", lambda m, x: m.as_strided(x, (2, 3), (0, 1)), A34),
    case("H", lambda m, x: x.H, A34),
    case("mH", lambda m, x: x.mH, A234),
    case("mT", lambda m, x: x.mT, A234),
    case("T", lambda m, x: x.T, A34),
    case("adjoint", lambda m, x: m.adjoint(x), A234),
    case("select_scatter", lambda m, x, y: m.select_scatter(x, y, 1, 2), A34, V3),
    case("select_scatter-method", lambda m, x, y: x.select_scatter(y, 0, -1), A234, A34),
    case("slice_scatter", lambda m, x, y: m.slice_scatter(x, y, 1, 0, None, 2), A34, A34[:, :2]),
    case("slice_scatter-default", lambda m, x, y: x.slice_scatter(y), A34, A34 * 2),
    case("slice_scatter-nonfinite", lambda m, x, y: m.slice_scatter(x, y, start=1), NONFINITE,
         A34[:2, :3]),
    case("view_as", lambda m, x, y: x.view_as(y), A34, A34.reshape(2, 6)),
    case("expand_as", lambda m, x, y: x.expand_as(y), V4, A34),
    case("reshape_as", lambda m, x, y: x.reshape_as(y), A34, A34.T),
    case("squeeze-tuple", lambda m, x: x.squeeze((0, 2)), np.ones((1, 3, 1, 2))),
    case("unsqueeze-then-squeeze-0d", lambda m, x: m.squeeze(x, 0), S),
    # diagonals
    case("diagonal", lambda m, x: m.diagonal(x), A34),
    case("diagonal-offset", lambda m, x: x.diagonal(1), A34),
    case("diagonal-negative-offset-dims", lambda m, x: m.diagonal(x, -1, 2, 0), A234),
    case("diagonal-offset-past-end", lambda m, x: m.diagonal(x, 7), A34),
    case("diagonal-empty", lambda m, x: m.diagonal(x), EMPTY),
    case("diagonal-nonfinite", lambda m, x: m.diagonal(x), NONFINITE),
    case("diag_embed", lambda m, x: m.diag_embed(x), A34),
    case("diag_embed-offset-dims", lambda m, x: x.diag_embed(-1, 0, 2), A34),
    case("diag_embed-dims-reversed", lambda m, x: m.diag_embed(x, 1, -1, -2), A34),
    case("diag-vector", lambda m, x: m.diag(x), V3),
    case("diag-vector-offset", lambda m, x: m.diag(x, -2), V3),
    case("diag-matrix", lambda m, x: x.diag(1), A34),
    case("diag-matrix-below", lambda m, x: m.diag(x, -2), A34),
    case("diagflat", lambda m, x: m.diagflat(x), A34[:2, :2]),
    case("diagflat-offset", lambda m, x: x.diagflat(-1), V3),
    case("diagonal_scatter", lambda m, x, y: m.diagonal_scatter(x, y), A34, V3),
    case("diagonal_scatter-offset-dims", lambda m, x, y: x.diagonal_scatter(y, 1, 2, 1), A234,
         rng.standard_normal((2, 2))),
    case("diagonal_scatter-nonfinite", lambda m, x, y: m.diagonal_scatter(x, y), NONFINITE, V3),
]


@pytest.mark.parametrize("fn,inputs,kw", CASES)
def test_against_torch(fn, inputs, kw):
    compare(fn, *inputs, **kw)


def test_integer_inputs_keep_their_dtype():
    x = np.arange(12).reshape(3, 4)
    for fn in (lambda m, t: m.movedim(t, 0, 1), lambda m, t: m.tile(t, (2,)),
               lambda m, t: m.diagonal(t, 1), lambda m, t: m.diag_embed(t),
               lambda m, t: m.hstack([t, t]), lambda m, t: m.rot90(t),
               lambda m, t: m.block_diag(t, t[0]), lambda m, t: m.tensor_split(t, 2, 1)):
        compare(fn, x, grad=False)


@pytest.mark.parametrize("name", ["tril_indices", "triu_indices"])
@pytest.mark.parametrize("args", [(3, 3), (4, 3, 1), (3, 5, -1), (0, 2), (3, 3, 5), (2, 4, -7)])
def test_triangle_indices(name, args):
    ours, theirs = getattr(ag, name)(*args), getattr(torch, name)(*args)
    assert ours.dtype == ag.int64
    np.testing.assert_array_equal(ours.array, theirs.numpy())
    assert getattr(ag, name)(3, 3, dtype=ag.int32).dtype == ag.int32


def test_broadcast_shapes():
    for shapes in [((3, 1), (4,)), ((2, 1, 3), (5, 1), ()), (3, (2, 1))]:
        assert ag.broadcast_shapes(*shapes) == torch.broadcast_shapes(*shapes)
    assert isinstance(ag.broadcast_shapes((2, 1), (3,)), ag.Size)
    with pytest.raises(ValueError, match="broadcast_shapes"):
        ag.broadcast_shapes((2,), (3,))


def test_split_results_are_tuples_and_share_one_node():
    x = ag.randn(7, 2, requires_grad=True)
    pieces = ag.tensor_split(x, 3)
    assert isinstance(pieces, tuple)
    assert len({p.grad_fn for p in pieces}) == 1


def test_meshgrid_default_is_ij():
    a, b = ag.arange(3.0), ag.arange(2.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = torch.meshgrid(torch.arange(3.0), torch.arange(2.0))
    for ours, theirs in zip(ag.meshgrid(a, b), expected):
        np.testing.assert_array_equal(ours.array, theirs.numpy())


def test_diagonal_double_backward_against_torch():
    x = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    ours, theirs = ag.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    for t, m in ((ours, ag), (theirs, torch)):
        y = (m.diag_embed(m.diagonal(t * t, 1)) ** 2).sum()
        g, = m.autograd.grad(y, t, create_graph=True)
        (g * g).sum().backward()
    np.testing.assert_allclose(ours.grad.array, theirs.grad.numpy())


ERRORS = [
    (lambda: ag.movedim(ag.zeros(2, 3), (0, 1), (0,)), "movedim"),
    (lambda: ag.movedim(ag.zeros(2, 3), (0, 0), (0, 1)), "movedim"),
    (lambda: ag.movedim(ag.zeros(2, 3), 2, 0), "movedim"),
    (lambda: ag.narrow(ag.zeros(3, 4), 1, 5, 1), "narrow"),
    (lambda: ag.narrow(ag.zeros(3, 4), 1, 2, 3), "narrow"),
    (lambda: ag.narrow(ag.zeros(()), 0, 0, 1), "narrow"),
    (lambda: ag.select(ag.zeros(3, 4), 1, 4), "select"),
    (lambda: ag.select(ag.zeros(3, 4), 2, 0), "select"),
    (lambda: ag.tensor_split(ag.zeros(3), 0), "tensor_split"),
    (lambda: ag.tensor_split(ag.zeros(()), 2), "tensor_split"),
    (lambda: ag.tensor_split(ag.zeros(3), ag.tensor([[1]])), "tensor_split"),
    (lambda: ag.hsplit(ag.zeros(3, 4), 3), "hsplit"),
    (lambda: ag.vsplit(ag.zeros(4), 2), "vsplit"),
    (lambda: ag.dsplit(ag.zeros(2, 4), 2), "dsplit"),
    (lambda: ag.split_with_sizes(ag.zeros(4), [1, 2]), "split"),
    (lambda: ag.broadcast_tensors(ag.zeros(2), ag.zeros(3)), "broadcast_tensors"),
    (lambda: ag.meshgrid(ag.zeros(2, 2)), "meshgrid"),
    (lambda: ag.meshgrid(ag.zeros(2), indexing="ji"), "meshgrid"),
    (lambda: ag.cartesian_prod(ag.zeros(2, 2)), "cartesian_prod"),
    (lambda: ag.combinations(ag.zeros(2, 2)), "combinations"),
    (lambda: ag.rot90(ag.zeros(3, 3), 1, (0, 0)), "rot90"),
    (lambda: ag.rot90(ag.zeros(3), 1), "rot90"),
    (lambda: ag.fliplr(ag.zeros(3)), "fliplr"),
    (lambda: ag.block_diag(ag.zeros(2, 2, 2)), "block_diag"),
    (lambda: ag.as_strided(ag.zeros(3, 4), (3, 3), (4, 4)), "as_strided"),
    (lambda: ag.as_strided(ag.zeros(3, 4), (2, 2), (1,)), "as_strided"),
    (lambda: ag.zeros(2, 3, 4).H, "Tensor.H"),
    (lambda: ag.zeros(3).mH, "Tensor.mH"),
    (lambda: ag.select_scatter(ag.zeros(3, 4), ag.zeros(4), 1, 0), "select_scatter"),
    (lambda: ag.slice_scatter(ag.zeros(3, 4), ag.zeros(3, 4), 1, 0, 2), "slice_scatter"),
    (lambda: ag.slice_scatter(ag.zeros(3, 4), ag.zeros(3, 4), step=0), "slice_scatter"),
    (lambda: ag.diagonal(ag.zeros(3, 4), 0, 1, 1), "diagonal"),
    (lambda: ag.diagonal(ag.zeros(3)), "diagonal"),
    (lambda: ag.diag_embed(ag.zeros(3), 0, 0, -2), "diag_embed"),
    (lambda: ag.diag(ag.zeros(2, 2, 2)), "diag"),
    (lambda: ag.diagonal_scatter(ag.zeros(3, 4), ag.zeros(4)), "diagonal_scatter"),
    (lambda: ag.triu_indices(-1, 2), "triu_indices"),
]


@pytest.mark.parametrize("call,name", ERRORS, ids=[f"{e[1]}-{i}" for i, e in enumerate(ERRORS)])
def test_errors_name_the_op(call, name):
    with pytest.raises((ValueError, IndexError, TypeError, RuntimeError), match=name.replace(".", r"\.")):
        call()
