"""A mutation test of the public strategies: break each built-in op's backward rule in turn and
show that ``testing.expression_graphs`` plus ``gradcheck`` catch it within the CI profile's
example budget.

Mutations: "scale" multiplies every gradient the rule returns by 1.01; "drop" replaces the
gradient of the rule's first differentiable input by zeros (a forgotten term); "transpose"
swaps the last two axes of a matrix-shaped gradient where the rule returns one; and for
MatMul, "no transpose" computes dL/da = g @ b instead of g @ b^T (the classic slip, which
gives the right shape whenever b is square). A mutation counts as caught when ``gradcheck``
fails on some drawn graph, or the engine refuses a gradient of the wrong shape
(``BackwardError``). Sum and Reshape also run inside ``gradcheck``'s own reduction of the
output, so every graph exercises them.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, Phase, find, settings
from hypothesis.errors import NoSuchExample

from tinygrad_rnn import BackwardError, ops, testing
from tinygrad_rnn.gradcheck import gradcheck

# which graph ops exercise each op of the table
USED_BY = {
    ops.Add: ["add"], ops.Sub: ["sub"], ops.Mul: ["mul"], ops.Div: ["div"], ops.Pow: ["pow", "square"],
    ops.Maximum: ["maximum"], ops.Where: ["where"], ops.MatMul: ["matmul"], ops.Affine: ["affine"],
    ops.TanhAffine: ["affine"], ops.ReLUAffine: ["affine"], ops.SigmoidAffine: ["affine"], ops.Neg: ["neg"],
    ops.Tanh: ["tanh"],
    ops.Sigmoid: ["sigmoid"], ops.Softplus: ["softplus"], ops.LogSigmoid: ["logsigmoid"], ops.ReLU: ["relu"],
    ops.Exp: ["exp"], ops.Log: ["log"], ops.Sqrt: ["sqrt"], ops.Abs: ["abs"], ops.Clip: ["clip"],
    ops.Sum: ["sum", "sum_last"], ops.Mean: ["mean"], ops.Max: ["max"], ops.Reshape: ["reshape"],
    ops.Transpose: ["transpose"], ops.GetItem: ["getitem"], ops.Stack: ["stack"], ops.Concat: ["concat"],
    ops.CrossEntropy: ["cross_entropy"],
}  # fmt: skip
BUDGET = settings(max_examples=100, derandomize=True, database=None, deadline=None, phases=[Phase.generate],
                  suppress_health_check=list(HealthCheck))  # fmt: skip  # no shrinking: any failing graph will do


def test_every_op_of_the_table_is_covered():
    table = {c for c in vars(ops).values() if isinstance(c, type) and issubclass(c, ops.Op) and c is not ops.Op}
    assert table == set(USED_BY)
    assert {name for names in USED_BY.values() for name in names} <= set(testing.OPS)


def _mutate(rule, how):
    def backward(ctx, g, needs):
        grads = list(rule(ctx, g, needs))
        live = [i for i, x in enumerate(grads) if x is not None]
        if how == "scale":
            grads = [None if x is None else np.asarray(x) * 1.01 for x in grads]
        elif how == "drop":
            grads[live[0]] = np.zeros_like(np.asarray(grads[live[0]]))
        else:
            grads = [x if x is None or np.ndim(x) < 2 else np.swapaxes(x, -1, -2) for x in grads]
        return tuple(grads)

    return backward


def _caught(graph: testing.ExpressionGraph) -> bool:
    try:
        return not gradcheck(graph, graph.tensors(), raise_exception=False)
    except BackwardError:  # the engine refused a gradient of the wrong shape
        return True


def _matmul_without_transpose(ctx, g, needs):
    a, b = ctx
    if a.ndim == 2 and b.ndim == 2 and b.shape[0] == b.shape[1]:
        return (g @ b if needs[0] else None), (a.T @ g if needs[1] else None)
    return RIGHT_MATMUL(ctx, g, needs)


RIGHT_MATMUL = ops.MatMul.backward


CASES = [(op, how) for op in USED_BY for how in ("scale", "drop")]
CASES += [(op, "transpose") for op in (ops.MatMul, ops.Affine, ops.TanhAffine, ops.ReLUAffine, ops.SigmoidAffine,
                                      ops.Transpose)]  # fmt: skip
CASES += [(ops.MatMul, "no transpose")]


@pytest.mark.parametrize(("op", "how"), CASES, ids=[f"{op.__name__}-{how}" for op, how in CASES])
def test_a_broken_rule_is_caught(monkeypatch, op, how):
    broken = _matmul_without_transpose if how == "no transpose" else _mutate(op.backward, how)
    monkeypatch.setattr(op, "backward", staticmethod(broken))
    graphs = testing.expression_graphs(ops=USED_BY[op], min_ops=1, max_ops=3)
    try:
        found = find(graphs, lambda g: op.name in _recorded_ops(g) and _caught(g), settings=BUDGET)
    except NoSuchExample:
        pytest.fail(f"{op.__name__} with its backward mutated ({how}) passed {BUDGET.max_examples} graphs")
    assert _caught(found)


def _recorded_ops(graph: testing.ExpressionGraph) -> set[str]:
    from tinygrad_rnn.autograd import walk

    return {t.op for t in walk(graph(*graph.tensors())) if t.op is not None}


@pytest.mark.parametrize("op", list(USED_BY), ids=[op.__name__ for op in USED_BY])
def test_the_unbroken_rules_pass_the_same_graphs(op):
    """The control: with the rules as shipped, no drawn graph counts as caught."""
    graphs = testing.expression_graphs(ops=USED_BY[op], min_ops=1, max_ops=3)
    with pytest.raises(NoSuchExample):
        find(graphs, _caught, settings=settings(BUDGET, max_examples=30))
