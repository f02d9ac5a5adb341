"""The Tensor frontend: creation, dtypes and promotion, interop, printing, operators."""
import numpy as np
import pytest

import autograd as ag


def test_default_dtypes_follow_pytorch():
    assert ag.tensor(1.5).dtype == np.float32
    assert ag.tensor([1, 2]).dtype == np.int64
    assert ag.tensor([True, False]).dtype == np.bool_
    assert ag.tensor(np.zeros(2)).dtype == np.float64      # arrays keep their dtype
    assert ag.zeros(2).dtype == ag.ones(2).dtype == ag.rand(2).dtype == np.float32
    assert ag.arange(3).dtype == np.int64 and ag.arange(0.0, 1.0, 0.5).dtype == np.float32
    assert ag.full((2,), 3).dtype == np.int64 and ag.full((2,), 3.0).dtype == np.float32


def test_promotion_keeps_the_floating_operand_dtype():
    f32, i64 = ag.ones(2), ag.arange(2)
    assert (f32 * i64).dtype == np.float32                 # NumPy would give float64
    assert (i64 * 2.5).dtype == np.float32
    assert (i64 * 2).dtype == np.int64
    assert (ag.tensor([1, 2]) / ag.tensor([2, 4])).dtype == np.float32
    assert (f32 + ag.ones(2, dtype="float64")).dtype == np.float64


def test_factories_and_like():
    assert ag.zeros(2, 3).shape == (2, 3) and ag.zeros((2, 3)).shape == (2, 3)
    np.testing.assert_array_equal(ag.eye(3).array, np.eye(3))
    np.testing.assert_allclose(ag.linspace(0, 1, 5).array, np.linspace(0, 1, 5))
    x = ag.ones(2, 3, dtype="float64")
    for f in (ag.zeros_like, ag.ones_like, ag.rand_like, ag.randn_like, ag.empty_like):
        y = f(x)
        assert y.shape == x.shape and y.dtype == np.float64
    assert ag.full_like(x, 7).array.sum() == 42
    r = ag.randint(0, 5, (100,))
    assert r.dtype == np.int64 and 0 <= r.array.min() and r.array.max() < 5


def test_manual_seed_reproduces_random_numbers():
    ag.manual_seed(3)
    a = ag.randn(4).array.copy(), ag.rand(2).array.copy()
    ag.manual_seed(3)
    b = ag.randn(4).array.copy(), ag.rand(2).array.copy()
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])


def test_numpy_interop_does_not_copy():
    t = ag.ones(3)
    assert np.shares_memory(np.asarray(t), t.array)
    assert t.numpy() is t.array
    arr = np.arange(3.0)
    f = ag.from_numpy(arr)
    arr[0] = 9
    assert f.array[0] == 9
    assert ag.tensor(arr).array is not arr                   # tensor() copies


def test_scalar_conversions_and_metadata():
    t = ag.tensor([[1.0, 2.0], [3.0, 4.0]])
    assert t.shape == (2, 2) and t.ndim == 2 and t.size() == (2, 2) and t.size(1) == 2
    assert t.numel() == 4 and len(t) == 2 and t.tolist() == [[1, 2], [3, 4]]
    assert ag.tensor(2.5).item() == 2.5 and float(ag.tensor(2.5)) == 2.5
    assert [row.tolist() for row in t] == [[1, 2], [3, 4]]
    with pytest.raises(RuntimeError, match="4 elements"):
        t.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(t)
    assert t.T.tolist() == [[1, 3], [2, 4]] and t.mT.tolist() == [[1, 3], [2, 4]]
    assert t.to("float64").dtype == np.float64 and t.double().dtype == np.float64
    assert t.long().dtype == np.int64 and t.float() is t


def test_repr_matches_pytorch_style():
    assert repr(ag.tensor([1.0, 2.0], requires_grad=True)) == "tensor([1., 2.], requires_grad=True)"
    x = ag.tensor([1.0, 2.0], requires_grad=True)
    assert repr(x * 2) == "tensor([2., 4.], grad_fn=<MulBackward>)"
    assert repr(ag.arange(3)) == "tensor([0, 1, 2])"
    assert repr(ag.tensor([1.0], dtype="float64")) == "tensor([1.], dtype=torch.float64)"
    w = ag.zeros(2)
    w.name = "w"
    assert "name='w'" in repr(w)


def test_operators_and_reflected_forms():
    x = ag.tensor([1.0, 2.0, 4.0])
    a = np.array([1.0, 2.0, 4.0], np.float32)
    cases = [(x + 1, a + 1), (1 + x, 1 + a), (x - 1, a - 1), (1 - x, 1 - a), (2 * x, 2 * a),
             (x / 2, a / 2), (2 / x, 2 / a), (x ** 2, a ** 2), (2 ** x, 2 ** a), (-x, -a),
             (x // 1.5, a // 1.5), (x % 1.5, a % 1.5), (abs(-x), a), (x @ x, a @ a),
             (np.ones(3, np.float32) * x, a), (np.ones(3) + x, a + 1)]
    for ours, ref in cases:
        assert isinstance(ours, ag.Tensor)
        np.testing.assert_allclose(ours.array, ref, rtol=1e-6)


def test_comparisons_return_bool_tensors_without_graph():
    x = ag.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r in (x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2):
        assert r.dtype == np.bool_ and not r.requires_grad
    assert (x > 1.5).tolist() == [False, True, True]
    assert ((x > 1) & (x < 3)).tolist() == [False, True, False]
    assert (~(x > 1)).tolist() == [True, False, False]


def test_in_place_forms_and_versions():
    x = ag.zeros(3)
    v0 = x._version.value
    x += 1
    x.mul_(3).add_(ag.ones(3))
    x[0] = 10
    assert x.tolist() == [10, 4, 4] and x._version.value == v0 + 4
    x.zero_()
    assert x.tolist() == [0, 0, 0]
    x.fill_(2.5).copy_(ag.tensor([1.0, 2.0, 3.0]))
    assert x.tolist() == [1, 2, 3]
    i = ag.arange(3)
    with pytest.raises(RuntimeError, match="can't be cast"):
        i += 0.5


def test_views_share_version_counters():
    x = ag.zeros(2, 3)
    row = x[0]
    saved = ag.ones(2, 3, dtype="float32", requires_grad=True)
    y = saved * x                                # Mul saves x
    row.add_(1)                                  # writes x's memory
    assert x.array[0].tolist() == [1, 1, 1]
    with pytest.raises(RuntimeError, match="modified by an in-place"):
        y.sum().backward()


@pytest.mark.parametrize("fn, message", [
    (lambda: ag.ones(2, 3) + ag.ones(4), r"add: shapes \(2, 3\) and \(4,\) cannot be broadcast"),
    (lambda: ag.ones(2, 3) * ag.ones(2, 2), r"mul: shapes \(2, 3\) and \(2, 2\)"),
    (lambda: ag.ones(2, 3) @ ag.ones(4, 5), r"matmul: shapes \(2, 3\) and \(4, 5\) are incompatible.*\(3\).*\(4\)"),
    (lambda: ag.ones(2, 3)[5], r"getitem: index 5 is out of bounds.*shape \(2, 3\)"),
    (lambda: ag.ones(2, 3)[:, 7], r"getitem: index 7 is out of bounds for axis 1"),
    (lambda: ag.ones(2, 3).reshape(4), r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) into shape \(4,\)"),
    (lambda: ag.ones(2, 3).sum(dim=2), r"sum: dim 2 is out of range.*2 dimension"),
    (lambda: ag.cat([ag.ones(2, 3), ag.ones(2, 4)]), r"cat: tensors must have the same shape except in dim 0.*\(2, 4\)"),
    (lambda: ag.ones(3).expand(2, 4), r"expand: cannot expand shape \(3,\) to \(2, 4\)"),
])
def test_errors_name_the_op_and_shapes(fn, message):
    with pytest.raises((ValueError, IndexError, RuntimeError), match=message):
        fn()


def test_max_along_dim_returns_values_and_first_index_on_ties():
    x = ag.tensor([[1.0, 5.0, 5.0], [3.0, 2.0, 1.0]], requires_grad=True)
    values, indices = x.max(1)
    assert values.tolist() == [5, 3] and indices.tolist() == [1, 0]
    assert x.min(dim=1).indices.tolist() == [0, 2] and x.max(1).values.tolist() == [5, 3]
    values.sum().backward()
    assert x.grad.tolist() == [[0, 1, 0], [1, 0, 0]]
    x.grad = None
    x.max().backward()                            # full max splits ties evenly
    assert x.grad.tolist() == [[0, 0.5, 0.5], [0, 0, 0]]
    assert x.argmax().item() == 1 and x.argmin(dim=1).tolist() == [0, 2]


def test_softmax_is_stable_for_huge_logits():
    x = ag.tensor([[1e4, -1e4, 0.0], [5e3, 5e3, -1e4]], requires_grad=True)
    ls = x.log_softmax(dim=1)
    sm = x.softmax(dim=1)
    assert np.isfinite(ls.array).all() and np.isfinite(sm.array).all()
    np.testing.assert_allclose(sm.array.sum(1), 1.0, rtol=1e-6)
    (ls[:, 0].sum() + sm[:, 1].sum()).backward()
    assert np.isfinite(x.grad.array).all()
    assert np.isfinite(ag.logsumexp(x, dim=1).array).all()


def test_cast_gradients_come_back_in_the_input_dtype():
    x = ag.ones(3, requires_grad=True)           # float32
    (x.double() * 2).sum().backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_allclose(x.grad.array, 2.0)
