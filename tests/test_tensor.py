"""Tensor: construction, dtype rules, properties, repr, detach, shape errors, step tagging."""

import re

import numpy as np
import pytest

import tinygrad_rnn
from tinygrad_rnn import DTypeError, ShapeError, Tensor, current_step, no_grad, step

# --- construction ------------------------------------------------------------------------


def test_from_nested_list_of_floats_is_float64():
    t = Tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert t.shape == (2, 3)
    assert t.dtype == np.float64
    np.testing.assert_array_equal(t.data, [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])


def test_from_python_scalar_is_zero_dimensional():
    t = Tensor(2.5)
    assert t.shape == ()
    assert t.ndim == 0
    assert t.size == 1
    assert t.dtype == np.float64
    assert t.item() == 2.5


def test_numpy_array_is_used_without_copy():
    a = np.array([1.0, 2.0, 3.0])
    t = Tensor(a, requires_grad=True)
    assert t.data is a
    assert t.numpy() is a
    a[0] = 10.0  # a change to the array is seen by the tensor
    assert t.data[0] == 10.0


def test_float32_array_keeps_its_dtype():
    t = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    assert t.dtype == np.float32


@pytest.mark.parametrize(
    ("data", "dtype", "expected"),
    [
        ([1, 2, 3], np.float32, np.float32),
        ([1, 2, 3], np.float64, np.float64),
        (np.arange(3), "float64", np.float64),
        ([1.7, 2.2], np.int32, np.int32),
    ],
)
def test_dtype_argument_converts(data, dtype, expected):
    t = Tensor(data, dtype=dtype)
    assert t.dtype == expected
    np.testing.assert_array_equal(t.data, np.asarray(data).astype(expected))


def test_dtype_argument_makes_integer_data_trainable():
    t = Tensor([1, 2, 3], dtype=np.float64, requires_grad=True)
    assert t.requires_grad
    np.testing.assert_array_equal(t.data, [1.0, 2.0, 3.0])


def test_tensor_of_tensor_shares_data_and_is_a_new_leaf():
    a = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="a")
    b = a * 3.0
    c = Tensor(b)
    assert c.data is b.data
    assert c.is_leaf
    assert c.parents == ()
    assert not c.requires_grad
    assert c.name is None
    assert Tensor(a, requires_grad=True).data is a.data


# --- dtypes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        pytest.param([1, 2, 3], id="int-list"),
        pytest.param(np.arange(3, dtype=np.int32), id="int32"),
        pytest.param(np.array([1, 2], dtype=np.uint8), id="uint8"),
        pytest.param([True, False], id="bool"),
    ],
)
def test_requires_grad_on_integer_or_bool_data_is_a_dtype_error(data):
    with pytest.raises(DTypeError) as info:
        Tensor(data, requires_grad=True)
    msg = str(info.value)
    assert str(np.asarray(data).dtype) in msg
    assert "floating-point" in msg
    assert "float64" in msg  # says how to fix it
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("data", [[1, 2, 3], np.arange(4, dtype=np.int32), [True, False]])
def test_integer_and_bool_data_without_grad_are_allowed(data):
    t = Tensor(data)
    assert not t.requires_grad
    assert t.dtype.kind in "biu"


def test_integer_tensors_compute_without_grad():
    t = Tensor([1, 2]) + Tensor([3, 4])
    assert t.dtype.kind == "i"
    np.testing.assert_array_equal(t.data, [4, 6])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_every_float_dtype_can_require_grad(dtype):
    assert Tensor(np.zeros(2, dtype=dtype), requires_grad=True).requires_grad


@pytest.mark.parametrize("requires_grad", [False, True])
@pytest.mark.parametrize(
    ("data", "shown"),
    [
        pytest.param("abc", "<U3", id="string"),
        pytest.param(None, "object", id="None"),
        pytest.param({"a": 1}, "object", id="dict"),
        pytest.param(np.array([1.0, 2.0], dtype=object), "object", id="object-array"),
        pytest.param([1j, 2.0], "complex128", id="complex"),
        pytest.param([[1.0, 2.0], [3.0]], "inhomogeneous", id="ragged"),
    ],
)
def test_non_numeric_data_is_rejected(data, shown, requires_grad):
    with pytest.raises(DTypeError, match=re.escape(shown)) as info:
        Tensor(data, requires_grad=requires_grad)
    assert str(info.value).startswith("Tensor:")


def test_unconvertible_data_with_dtype_is_a_dtype_error():
    with pytest.raises(DTypeError, match="cannot make a numeric array from str"):
        Tensor("abc", dtype=np.float64)


# --- properties --------------------------------------------------------------------------


def test_array_properties():
    t = Tensor(np.arange(24.0).reshape(4, 3, 2))
    assert t.shape == (4, 3, 2)
    assert t.dtype == np.float64
    assert t.ndim == 3
    assert t.size == 24
    assert len(t) == 4


def test_len_of_a_scalar_is_a_type_error():
    with pytest.raises(TypeError):
        len(Tensor(1.0))


def test_item_of_single_element_tensor_of_any_shape():
    assert Tensor([[-4.25]]).item() == -4.25
    assert isinstance(Tensor(np.array([3], dtype=np.int64)).item(), int)


def test_item_of_several_elements_raises():
    with pytest.raises(ValueError):
        Tensor([1.0, 2.0]).item()


def test_leaf_has_no_op_and_no_parents():
    t = Tensor([1.0], requires_grad=True)
    assert t.op is None
    assert t.parents == ()
    assert t.is_leaf
    assert t.grad is None


def test_op_output_records_op_and_parents_in_argument_order():
    a = Tensor([1.0, 2.0], requires_grad=True)
    b = Tensor([3.0, 4.0], requires_grad=True)
    c = b * a
    assert c.op == "mul"
    assert c.parents[0] is b
    assert c.parents[1] is a
    assert not c.is_leaf
    assert c.requires_grad
    np.testing.assert_array_equal(c.data, [3.0, 8.0])


def test_ops_on_constants_record_nothing():
    c = Tensor([1.0, 2.0]) * Tensor([3.0, 4.0])
    assert not c.requires_grad
    assert c.op is None
    assert c.parents == ()
    assert c.is_leaf


def test_python_number_takes_the_tensor_float_dtype():
    t = Tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    for out in (2 * t, t + 1, t / 3.0, 1.0 - t):
        assert out.dtype == np.float32


def test_numpy_array_on_the_left_gives_a_tensor():
    t = Tensor([1.0, 2.0], requires_grad=True)
    out = np.array([10.0, 20.0]) + t
    assert isinstance(out, Tensor)
    assert out.op == "add"
    np.testing.assert_array_equal(out.data, [11.0, 22.0])


# --- repr --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tensor",
    [
        Tensor(np.array([1.0, 2.0]), requires_grad=True, name="W"),
        Tensor(np.array([[0.1, -3e-300], [np.pi, 2.0]], dtype=np.float32)),
        Tensor(np.float64(0.5)),
        Tensor(np.arange(3)),
        Tensor(np.zeros((2, 0))),
    ],
)
def test_a_leaf_prints_as_code_that_makes_it_again(tensor):
    """A failing hypothesis example shows the tensors it drew; pasted back, they are the same."""
    again = eval(repr(tensor), {"Tensor": Tensor})
    assert again.dtype == tensor.dtype and again.shape == tensor.shape
    np.testing.assert_array_equal(again.data, tensor.data)
    assert (again.requires_grad, again.name) == (tensor.requires_grad, tensor.name)
    assert repr(Tensor(np.array([1.0, 2.0]), requires_grad=True, name="W")) == (
        "Tensor([1.0, 2.0], requires_grad=True, name='W')"
    )


def test_repr_of_an_op_output_in_a_step():
    W = Tensor(np.ones((3, 4)), requires_grad=True, name="W")
    with step(7):
        h = W.tanh()
    h.name = "h"
    r = repr(h)
    for part in ("name='h'", "shape=(3, 4)", "op='tanh'", "step=7"):
        assert part in r
    assert "0.76" not in r  # 12 elements: data left out


# --- detach ------------------------------------------------------------------------------


def test_detach_shares_data_and_stops_recording():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    y = x * 2.0
    d = y.detach()
    assert d.data is y.data
    assert not d.requires_grad
    assert d.is_leaf
    assert d.parents == ()
    assert d.name is None
    assert x.detach().name == "x"


def test_gradient_does_not_flow_through_detach():
    x = Tensor(np.array([1.0, -2.0]), requires_grad=True)
    w = Tensor(np.array([3.0, 5.0]), requires_grad=True)
    d = (x * 2.0).detach()
    (d * w).sum().backward()
    assert x.grad is None
    np.testing.assert_array_equal(w.grad, [2.0, -4.0])


def test_detached_copy_counts_as_a_constant():
    # L = sum(stop(x) * x): dL/dx = x, not 2x
    x = Tensor(np.array([0.5, -1.5, 3.0]), requires_grad=True)
    (x.detach() * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [0.5, -1.5, 3.0])


# --- shape errors ------------------------------------------------------------------------


def _t(*shape):
    return Tensor(np.ones(shape), requires_grad=True)


SHAPE_ERRORS = [
    pytest.param(lambda: _t(2, 3) + _t(4), "add", ["(2, 3)", "(4,)", "do not broadcast"], id="add"),
    pytest.param(lambda: _t(2, 3) * _t(3, 2), "mul", ["(2, 3)", "(3, 2)", "do not broadcast"], id="mul"),
    pytest.param(lambda: _t(2, 3) - np.ones(5), "sub", ["(2, 3)", "(5,)"], id="sub-array"),
    pytest.param(
        lambda: _t(2, 3) @ _t(4, 5), "matmul", ["(2, 3) @ (4, 5)", "inner dimensions 3 and 4 differ"], id="matmul-inner"
    ),
    pytest.param(lambda: _t(3) @ _t(4), "matmul", ["(3,) @ (4,)", "3 and 4"], id="matmul-vectors"),
    pytest.param(
        lambda: _t(2, 3, 4) @ _t(5, 4, 6),
        "matmul",
        ["(2, 3, 4) @ (5, 4, 6)", "batch dimensions do not broadcast"],
        id="matmul-batch",
    ),
    pytest.param(lambda: _t() @ _t(2, 3), "matmul", ["() @ (2, 3)", "at least 1-d"], id="matmul-scalar"),
    pytest.param(lambda: _t(2, 3).reshape(4, 2), "reshape", ["(2, 3)", "(4, 2)", "size 6"], id="reshape"),
    pytest.param(lambda: _t(2, 3).sum(axis=2), "sum", ["(2, 3)", "axis 2", "2 dimensions", "[-2, 2)"], id="sum-axis"),
    pytest.param(lambda: _t(2, 3).mean(axis=-3), "mean", ["(2, 3)", "axis -3"], id="mean-axis"),
    pytest.param(lambda: _t(2, 3)[5], "getitem", ["(2, 3)", "index 5", "size 2"], id="getitem-axis0"),
    pytest.param(lambda: _t(2, 3)[0, 7], "getitem", ["(2, 3)", "index 7", "axis 1 with size 3"], id="getitem-axis1"),
    pytest.param(lambda: Tensor.stack([_t(2, 3), _t(3)]), "stack", ["(2, 3)", "(3,)"], id="stack"),
    pytest.param(lambda: Tensor.concat([_t(2, 3), _t(3)]), "concat", ["(2, 3)", "(3,)"], id="concat-ndim"),
    pytest.param(lambda: Tensor.concat([_t(2, 3), _t(2, 4)], axis=0), "concat", ["(2, 3)", "(2, 4)"], id="concat-side"),
]


@pytest.mark.parametrize(("make", "op", "parts"), SHAPE_ERRORS)
def test_shape_errors_name_the_op_and_the_shapes(make, op, parts):
    with pytest.raises(ShapeError) as info:
        make()
    msg = str(info.value)
    assert msg.startswith(f"{op}: ")
    for part in parts:
        assert part in msg
    assert isinstance(info.value, ValueError)
    assert info.value.__cause__ is None  # numpy's traceback is not chained in


@pytest.mark.parametrize("bad", [[], (), Tensor([1.0, 2.0])])
def test_stack_and_concat_need_a_non_empty_sequence(bad):
    for join in (Tensor.stack, Tensor.concat):
        with pytest.raises(ShapeError, match="non-empty list or tuple"):
            join(bad)


# --- step tagging ------------------------------------------------------------------------


def test_tensors_outside_any_step_have_none():
    assert current_step() is None
    x = Tensor([1.0], requires_grad=True)
    assert x.step is None
    assert (x * 2.0).step is None


def _tagged_program():
    """Leaves, op outputs and a lifted Python constant, as (label, tensor) pairs."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    y = x * 3.0
    z = (y + Tensor(np.ones(2))).tanh().sum()
    return {"leaf": x, "mul": y, "constant 3.0": y.parents[1], "tanh": z.parents[0], "sum": z}


def test_step_tags_every_tensor_created_inside():
    with step(4):
        assert current_step() == 4
        tensors = _tagged_program()
    assert {label: t.step for label, t in tensors.items()} == dict.fromkeys(tensors, 4)
    assert current_step() is None


def test_step_tags_tensors_under_no_grad():
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with no_grad(), step(2):
        leaf = Tensor([0.0])
        y = (x * 3.0 + 1.0).tanh()
    assert leaf.step == 2
    assert y.step == 2
    assert x.step is None


def test_nested_steps_restore_the_outer_tag():
    with step(1):
        a = Tensor([1.0])
        with step(2):
            b = Tensor([1.0])
            with step(None):
                c = Tensor([1.0])
            d = Tensor([1.0])
        e = Tensor([1.0])
    f = Tensor([1.0])
    assert [t.step for t in (a, b, c, d, e, f)] == [1, 2, None, 2, 1, None]


def test_step_is_restored_after_an_exception():
    with pytest.raises(KeyError), step(3):
        raise KeyError("inside")
    assert current_step() is None


def test_a_tensor_keeps_the_step_it_was_created_in():
    with step(0):
        h = Tensor([0.0], requires_grad=True)
    with step(1):
        h2 = h.tanh()
    assert (h.step, h2.step) == (0, 1)


@pytest.mark.parametrize("t", [np.int64(5), np.int32(5), np.uint8(5)])
def test_step_accepts_numpy_integers(t):
    with step(t):
        x = Tensor([1.0])
    assert x.step == 5
    assert type(x.step) is int


@pytest.mark.parametrize("t", [1.5, 2.0, np.float64(3.0), "3", [1], True, np.bool_(False)])
def test_step_rejects_non_integers(t):
    with pytest.raises(TypeError, match=r"step\(t\): t must be an integer"), step(t):
        pass
    assert current_step() is None


def test_step_is_exported_at_package_level():
    assert tinygrad_rnn.step is step
    assert tinygrad_rnn.current_step is current_step


# --- Python's and numpy's protocols ------------------------------------------------------------


def test_a_tensor_iterates_over_its_first_axis_in_the_graph():
    t = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(t)
    assert [r.shape for r in rows] == [(2,)] * 3 and all(r.op == "getitem" for r in rows)
    total = sum(t)  # Python's sum: 0 + t[0] + t[1] + t[2]
    np.testing.assert_array_equal(total.data, [6.0, 9.0])
    total.sum().backward()
    np.testing.assert_array_equal(t.grad, np.ones((3, 2)))
    columns = list(zip(*t, strict=True))
    assert len(columns) == 2 and [float(c) for c in columns[1]] == [1.0, 3.0, 5.0]
    with pytest.raises(TypeError, match="0-d tensor"):
        iter(Tensor(1.0))
    with pytest.raises(TypeError, match="0-d tensor"):
        len(Tensor(1.0))


def test_an_rnn_loop_over_a_tensor_of_steps():
    """The README's loop with xs a Tensor (T, B, I): each x is a step's (B, I) slice."""
    xs = Tensor(np.random.default_rng(0).normal(size=(4, 1, 2)))
    W = Tensor(np.eye(2), requires_grad=True)
    h = Tensor(np.zeros((1, 2)))
    for x in xs:
        h = (h @ W + x).tanh()
    h.sum().backward()
    assert W.grad.shape == (2, 2) and np.isfinite(W.grad).all()


def test_an_index_past_the_end_is_an_index_error_and_a_shape_error():
    t = Tensor(np.zeros(3))
    for bad in (3, -4, (0, 0)):
        with pytest.raises(IndexError, match=r"getitem: .*out of bounds|too many indices") as info:
            t[bad]
        assert isinstance(info.value, ShapeError) or bad == (0, 0)


@pytest.mark.parametrize("data", [np.array(2.5), np.array([2.5]), np.array([[2.5]])])
def test_one_value_converts_to_python_numbers_like_numpy(data):
    t = Tensor(data)
    assert float(t) == 2.5 and int(t) == 2 and bool(t) is True
    assert bool(Tensor(data * 0)) is False


def test_several_values_do_not_convert_and_say_what_to_do():
    t = Tensor(np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match=r"truth value of a tensor with 2 values \(shape \(2,\)\) is ambiguous"):
        bool(t)
    with pytest.raises(TypeError, match=r"float\(\): only a tensor holding exactly one value"):
        float(t)
    with pytest.raises(TypeError, match=r"int\(\): only a tensor holding exactly one value"):
        int(Tensor(np.zeros((0,))))


def test_comparisons_give_boolean_tensors_without_gradient():
    a = Tensor(np.array([[1.0, 2.0], [3.0, 4.0]]), requires_grad=True)
    b = Tensor(np.array([2.0, 2.0]))
    for result, expected in (
        (a < 2.5, [[True, True], [False, False]]),
        (a <= b, [[True, True], [False, False]]),
        (a > np.array([0.0, 3.0]), [[True, False], [True, True]]),
        (a >= 2, [[False, True], [True, True]]),
        (a == b, [[False, True], [False, False]]),
        (a != b, [[True, False], [True, True]]),
        (2.5 > a, [[True, True], [False, False]]),
    ):
        assert result.dtype == np.bool_ and not result.requires_grad and result.parents == ()
        assert result.data.tolist() == expected
    with pytest.raises(ShapeError, match=r"less: cannot compare a tensor of shape \(2, 2\) with \(3,\)"):
        _ = a < np.ones(3)


def test_tensors_still_hash_by_identity():
    a, b = Tensor(np.ones(2)), Tensor(np.ones(2))
    assert len({a, b, a}) == 2 and {a: 1, b: 2}[b] == 2


def test_numpy_reads_a_tensor_as_its_data():
    t = Tensor(np.arange(3.0), requires_grad=True)
    assert np.asarray(t) is t.data
    assert np.asarray(t, dtype=np.float32).dtype == np.float32
    copied = np.array(t, copy=True)
    assert copied is not t.data and copied.tolist() == [0.0, 1.0, 2.0]
    assert np.mean(t.data) == 1.0 and np.stack(list(np.asarray(t))).shape == (3,)


@pytest.mark.parametrize("flag", ["no", 1, 0, None, 1.0])
def test_requires_grad_must_be_a_bool(flag):
    with pytest.raises(TypeError, match=r"requires_grad must be True or False, got"):
        Tensor([1.0], requires_grad=flag)
    assert Tensor([1.0], requires_grad=np.bool_(True)).requires_grad is True


def test_generated_operators_and_methods_carry_their_names_and_pickle():
    import pickle

    t = Tensor(np.ones(3))
    for name in ("__add__", "__rmatmul__", "__neg__", "tanh", "logsigmoid", "__lt__", "__eq__"):
        method = getattr(Tensor, name)
        assert (method.__name__, method.__qualname__) == (name, f"Tensor.{name}")
        assert pickle.loads(pickle.dumps(method)) is method
    assert pickle.loads(pickle.dumps(t.tanh))().data.tolist() == np.tanh(np.ones(3)).tolist()
    assert "sigmoid" in Tensor.sigmoid.__doc__ or "1 / (1 + e^-x)" in Tensor.sigmoid.__doc__
