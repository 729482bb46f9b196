"""Read a recorded graph into a plain description: nodes, edges, time steps.

Nothing here changes the graph. Nodes get keys from their topological position ("n0",
"n1", ...), never from ``id()``, so the same program always gives the same description.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.autograd import edge_gradients, walk
from tinygrad_rnn.errors import DTypeError

PARAMETER, INPUT, CONSTANT, OP = "parameter", "input", "constant", "op"


@dataclass(frozen=True)
class Node:
    """One tensor of the graph.

    ``kind`` is "parameter" (a leaf that requires grad), "input" (a named leaf that does not),
    "constant" (an unnamed leaf: a number in the formula) or "op". ``grad_norm`` is the norm
    of ``.grad`` (None where no gradient reached the tensor). ``role`` is the same for the
    tensors that play one part at every step (``"op:h[b,W,U]#0"``): the rolled view's nodes.
    ``norm`` is the norm of the values and ``value`` a short text of them. Tensors share a role
    when they have the same kind, name (or op) and parameters, and the same rank among such
    tensors of their step.
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
    #: per (parameter key, step): the norm of what that step added to the parameter's gradient,
    #: ‖∂L/∂W(t)‖ (the sum over the step's uses of the parameter; absent if nothing flowed back)
    contributions: dict[tuple[str, int], float] = field(default_factory=dict)
    #: parameter keys whose ``.grad`` also holds earlier backward passes (no zero_grad between)
    accumulated: set[str] = field(default_factory=set)

    def node(self, key: str) -> Node:
        return self._index[key]

    def incoming(self, key: str) -> list[Edge]:
        """The edges into ``key``, in input order."""
        return self._incoming.get(key, [])

    def __post_init__(self) -> None:
        self._index = {n.key: n for n in self.nodes}
        self._incoming: dict[str, list[Edge]] = {}
        for e in self.edges:
            self._incoming.setdefault(e.dst, []).append(e)


def _norm(a: np.ndarray | None) -> float | None:
    """The 2-norm, scaled by the largest entry so that gradients up to float64's limit do not
    overflow when squared; inf or nan when the array holds them (the diagram marks those)."""
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return 0.0
    m = float(np.max(np.abs(a)))  # nan if any entry is nan, inf if any is inf
    if m == 0.0 or not math.isfinite(m):
        return m
    return m * float(np.sqrt(np.sum(np.square(a / m))))


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal up to the rounding of summing in another order (looser in float32)."""
    tol = 10 * float(np.finfo(a.dtype).eps) ** 0.5 if a.dtype.kind == "f" else 1e-7
    scale = float(np.max(np.abs(a[np.isfinite(a)]), initial=0.0))
    return bool(np.allclose(a, b, rtol=tol, atol=tol * scale, equal_nan=True))


def _value(t: Tensor) -> str:
    """A short text for the tensor's values: the numbers if few, else mean and spread."""
    d = t.data
    if d.ndim == 0:
        return f"{float(d):.3g}"
    if d.size <= 4:  # formatted by hand: np.array2string costs more than the whole graph walk
        return "[" + ", ".join(f"{float(v):.3g}" for v in d.ravel()) + "]"
    return f"mean {d.mean():.3g}, std {d.std():.3g}"


def _kind(t: Tensor) -> str:
    if t.parents:
        return OP
    if t.requires_grad:
        return PARAMETER
    return INPUT if t.name is not None else CONSTANT


def _joint_root(roots: list[Tensor]) -> Tensor:
    """One tensor to walk instead of several roots: a throwaway leaf whose parents are the roots.

    Walking each root on its own costs O(graph) per root, so ``[loss, *outputs]`` of a T-step
    unroll would cost O(T^2) (20 s at T = 1,000); one walk from this node visits every tensor
    once, in the same order. It is a new object outside the recorded graph, which stays as it was.
    """
    if len(roots) == 1:
        return roots[0]
    joint = Tensor(0.0)
    joint._parents = tuple(roots)  # walk() reads it; duplicates are visited once
    return joint


def describe(roots: Tensor | Sequence[Tensor]) -> Description:
    """Describe everything ``roots`` were computed from (give the loss, and the outputs left out
    of the cost if they should appear too)."""
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        raise DTypeError("viz: pass a Tensor (the loss) or a list of Tensors to draw")
    joint = _joint_root(roots)
    order = walk(joint)[:-1] if joint is not roots[0] else walk(joint)
    # Gradients are those of the last backward() from roots[0] (the loss): an extra root's own
    # subgraph (an output left out of the cost) may still hold .grad from an earlier backward()
    # through a different loss, which this one did not reset.
    live = order if joint is roots[0] else walk(roots[0])
    live_ids = {id(t) for t in live}
    with np.errstate(all="ignore"):  # replaying the rules repeats any warning backward() already gave
        edges_carried = edge_gradients(roots[0], live)
    keys = {id(t): f"n{i}" for i, t in enumerate(order)}
    read_at: dict[int, int] = {}  # an untagged leaf (targets made before the loop): the first step reading it
    for t in order:
        for p in t.parents:
            if t.step is not None and p.step is None and not p.parents:
                read_at[id(p)] = min(read_at.get(id(p), t.step), t.step)
    counters: dict[tuple[int | None, str], int] = {}
    nodes = []
    for t in order:
        kind = _kind(t)
        label = t.name or t.op or "const"
        if kind == PARAMETER:
            role = f"param:{label}#{keys[id(t)]}"  # one node each, even when two share a name
        else:
            # one role per step and per (name, parameters used): an encoder's h and a decoder's h differ
            uses = ",".join(p.name or "?" for p in t.parents if _kind(p) == PARAMETER)
            slot = (t.step if t.step is not None else read_at.get(id(t)), f"{kind}:{label}[{uses}]")
            counters[slot] = counters.get(slot, 0) + 1
            role = f"{slot[1]}#{counters[slot] - 1}"
        grad = t.grad if (t.requires_grad or t.parents) and (not t.parents or id(t) in live_ids) else None
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
    per_step: dict[tuple[str, int | None], np.ndarray] = {}  # (parameter, step): what that step added
    params: dict[str, Tensor] = {}
    for t in order:
        for i, p in enumerate(t.parents):
            carried = edges_carried.get((id(t), i))
            if carried is not None and _kind(p) == PARAMETER:
                slot = (keys[id(p)], t.step)
                per_step[slot] = per_step[slot] + carried if slot in per_step else carried
                params[keys[id(p)]] = p
    contributions = {slot: float(_norm(g)) for slot, g in per_step.items() if slot[1] is not None}
    added: dict[str, np.ndarray] = {}  # per parameter: all the last pass added, over every step and untagged use
    for (key, _), g in per_step.items():
        added[key] = added[key] + g if key in added else g
    accumulated = {key for key, p in params.items() if p.grad is not None and not _same(p.grad, added[key])}
    return Description(nodes, edges, [keys[id(r)] for r in roots], steps, totals, contributions, accumulated)
