"""Read a recorded graph into a plain description: nodes, edges, time steps.

Nothing here changes the graph. Nodes get keys from their topological position ("n0",
"n1", ...), never from ``id()``, so the same program always gives the same description.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.autograd import edge_gradients, walk

PARAMETER, INPUT, CONSTANT, OP = "parameter", "input", "constant", "op"


@dataclass(frozen=True)
class Node:
    """One tensor of the graph.

    ``kind`` is "parameter" (a leaf that requires grad), "input" (a named leaf that does not),
    "constant" (an unnamed leaf: a number in the formula) or "op". ``grad_norm`` is the norm
    of ``.grad`` (None where no gradient reached the tensor). ``role`` is the same for the
    tensors that play one part at every step ("h", "matmul#1", ...): the rolled view's nodes.
    ``norm`` is the norm of the values and ``value`` a short text of them.
    """

    key: str
    kind: str
    op: str | None
    name: str | None
    shape: tuple[int, ...]
    step: int | None
    grad_norm: float | None
    norm: float
    value: str
    role: str


@dataclass(frozen=True)
class Edge:
    """Input ``index`` of ``dst`` is ``src``; ``grad_norm`` is the norm of what flowed back
    along it in the last backward pass (None if nothing did)."""

    src: str
    dst: str
    index: int
    grad_norm: float | None


@dataclass
class Description:
    nodes: list[Node]
    edges: list[Edge]
    roots: list[str]
    steps: list[int] = field(default_factory=list)
    #: per parameter key: the norm of its ``.grad`` (the total the diagram shows)
    totals: dict[str, float | None] = field(default_factory=dict)

    def node(self, key: str) -> Node:
        return self._index[key]

    def __post_init__(self) -> None:
        self._index = {n.key: n for n in self.nodes}


def _norm(a: np.ndarray | None) -> float | None:
    return None if a is None else float(np.sqrt(np.sum(np.square(a, dtype=np.float64))))


def _value(t: Tensor) -> str:
    """A short text for the tensor's values: the numbers if few, else mean and spread."""
    d = t.data
    if d.size <= 4:
        return np.array2string(d.astype(np.float64), precision=3, separator=", ", suppress_small=True)
    return f"mean {d.mean():.3g}, std {d.std():.3g}"


def _kind(t: Tensor) -> str:
    if t.parents:
        return OP
    if t.requires_grad:
        return PARAMETER
    return INPUT if t.name is not None else CONSTANT


def describe(roots: Tensor | Sequence[Tensor]) -> Description:
    """Describe everything ``roots`` were computed from (give the loss, and the outputs left out
    of the cost if they should appear too)."""
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        raise TypeError("viz: pass a Tensor (the loss) or a list of Tensors to draw")
    order: list[Tensor] = []
    seen: set[int] = set()
    edges_carried: dict[tuple[int, int], np.ndarray] = {}
    for root in roots:
        for t in walk(root):
            if id(t) not in seen:
                seen.add(id(t))
                order.append(t)
        edges_carried.update(edge_gradients(root))
    keys = {id(t): f"n{i}" for i, t in enumerate(order)}
    counters: dict[tuple[int | None, str], int] = {}
    nodes = []
    for t in order:
        kind = _kind(t)
        label = t.name or t.op or "const"
        if kind == PARAMETER:
            role = f"param:{label}"
        else:
            slot = (t.step, label)
            counters[slot] = counters.get(slot, 0) + 1
            role = f"{kind}:{label}#{counters[slot] - 1}"
        grad = t.grad if (t.requires_grad or t.parents) else None
        nodes.append(
            Node(keys[id(t)], kind, t.op, t.name, t.shape, t.step, _norm(grad), _norm(t.data), _value(t), role)
        )
    edges = [
        Edge(keys[id(p)], keys[id(t)], i, _norm(edges_carried.get((id(t), i))))
        for t in order
        for i, p in enumerate(t.parents)
    ]
    steps = sorted({t.step for t in order if t.step is not None})
    totals = {keys[id(t)]: _norm(t.grad) for t in order if _kind(t) == PARAMETER}
    return Description(nodes, edges, [keys[id(r)] for r in roots], steps, totals)
