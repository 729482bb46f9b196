"""Read a recorded graph into a plain description: nodes, edges, time steps, the cost.

Nothing here changes the graph. Nodes get keys from their topological position ("n0",
"n1", ...), never from ``id()``, so the same program always gives the same description.
``describe`` works in steps, each a function below: walk the graph once (``_structure``), say
where each tensor is drawn (``_places``) and what part it plays (``_roles``), find the cost
(``_cost``), choose the steps to show (``shown_steps``) and only then read the numbers of the
tensors that are drawn (``_details``): a 50,000-step recording costs one walk, not 50,000
replays of backward rules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.autograd import edge_gradients, walk

from .errors import VizError

PARAMETER, INITIAL, INPUT, CONSTANT, OP, COST = "parameter", "initial", "input", "constant", "op", "cost"
#: unnamed ops that only add up per-step costs (folded into the cost node even when tagged with a step)
_SUMMING = frozenset({"add", "sub", "neg", "sum", "mean"})
#: names of tensors that are terms of the cost (``sequence_loss`` names each step's term L)
COST_NAMES = frozenset({"L", "loss", "C", "cost"})


@dataclass(frozen=True)
class Role:
    """The part a tensor plays at every step; the rolled view draws one node per role.

    Tensors share a role when they have the same kind, label (name, op or "const"), shape and
    parameters read, and the same rank among such tensors of their step: an encoder's h and a
    decoder's h differ, and so do an initial state h0 (1, 4) and the inputs x(t) (1, 2). A
    parameter's role is its own (``key``), even when two parameters share a name.
    """

    kind: str
    label: str
    shape: tuple[int, ...]
    uses: tuple[str, ...] = ()
    rank: int = 0
    key: str | None = None


@dataclass(frozen=True)
class Node:
    """One tensor of the graph.

    ``kind``: "parameter" (a leaf that requires grad), "initial" (an untagged leaf fed where
    later steps take the previous step's tensor, such as h0), "input" (a named leaf), "constant"
    (an unnamed leaf: a number in the formula), "op", or "cost" (an op folded into the cost
    node). ``step`` is the tensor's tag; ``place`` the step it is drawn in (None: outside the
    steps). ``grad_norm``, ``norm`` and ``value`` are read only for drawn nodes (None / nan /
    "" for the others): the norm of ``.grad`` (None where no gradient reached the tensor), of
    the values, and a short text of them.
    """

    key: str
    kind: str
    op: str | None
    name: str | None
    shape: tuple[int, ...]
    step: int | None
    place: int | None
    role: Role
    drawn: bool = True
    grad_norm: float | None = None
    norm: float = math.nan
    value: str = ""


@dataclass(frozen=True)
class Edge:
    """Input ``index`` of ``dst`` is ``src``; ``grad_norm`` is the norm of what flowed back
    along it in the last backward pass (None if nothing did, or if ``dst`` is not drawn)."""

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
    #: the recorded steps that are drawn (all of them unless ``max_steps`` elides the middle)
    shown: list[int] = field(default_factory=list)
    #: per parameter key: the norm of its ``.grad`` (the total the diagram shows)
    totals: dict[str, float | None] = field(default_factory=dict)
    #: per (parameter key, step), for drawn steps: the norm of what that step added to the
    #: parameter's gradient, ‖∂L/∂W(t)‖ (the sum over the step's uses; absent if nothing flowed back)
    contributions: dict[tuple[str, int], float] = field(default_factory=dict)
    #: parameter keys whose ``.grad`` also holds earlier backward passes (no zero_grad between);
    #: checked only when every step is drawn
    accumulated: set[str] = field(default_factory=set)
    #: the ops folded into the one cost node (empty when the cost is not folded)
    cost: list[str] = field(default_factory=list)
    #: what the cost node reads: the tensors feeding the folded ops, in step order
    cost_reads: list[str] = field(default_factory=list)
    #: the loss value (roots[0]) as a number, if it is a single number
    loss_value: float | None = None

    def node(self, key: str) -> Node:
        return self._index[key]

    def incoming(self, key: str) -> list[Edge]:
        """The edges into ``key``, in input order."""
        return self._incoming.get(key, [])

    def outgoing(self, key: str) -> list[Edge]:
        """The edges out of ``key``, in the order of their consumers."""
        return self._outgoing.get(key, [])

    @property
    def elided(self) -> int:
        """How many recorded steps are not drawn."""
        return len(self.steps) - len(self.shown)

    def __post_init__(self) -> None:
        self._index = {n.key: n for n in self.nodes}
        self._incoming: dict[str, list[Edge]] = {}
        self._outgoing: dict[str, list[Edge]] = {}
        for e in self.edges:
            self._incoming.setdefault(e.dst, []).append(e)
            self._outgoing.setdefault(e.src, []).append(e)


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


@dataclass
class _Walk:
    """One walk of the graph: tensors in topological order, their keys and kinds, and for
    each tensor the positions of its consumers."""

    order: list[Tensor]
    live: int  # order[:live] is what roots[0] (the loss) was computed from
    keys: list[str]
    kinds: list[str]
    index: dict[int, int]  # id(tensor) -> position in order
    users: list[list[int]]


def _structure(roots: list[Tensor]) -> _Walk:
    order = walk(*roots)
    index = {id(t): i for i, t in enumerate(order)}
    users: list[list[int]] = [[] for _ in order]
    for i, t in enumerate(order):
        for p in t.parents:
            users[index[id(p)]].append(i)
    live = index[id(roots[0])] + 1  # walk() finishes the first root before it starts the next
    return _Walk(order, live, [f"n{i}" for i in range(len(order))], [_kind(t) for t in order], index, users)


def _places(w: _Walk) -> tuple[list[int | None], list[bool]]:
    """The step each tensor is drawn in, and which leaves are initial states.

    A tensor's own step; for an untagged leaf (targets made before the loop) the one step that
    reads it; None (outside the steps) for parameters, untagged ops, leaves that several steps
    read, and initial states such as h(0): untagged leaves fed in an input slot that later
    steps fill from an earlier step's tensor.
    """
    recurrent_slots = set()  # (op, name, input index) that some step fills from an earlier step
    for t in w.order:
        for i, p in enumerate(t.parents):
            if t.step is not None and p.step is not None and p.step < t.step and p.parents:
                recurrent_slots.add((t.op, t.name, i))
    places: list[int | None] = [t.step for t in w.order]
    initial = [False] * len(w.order)
    for i, t in enumerate(w.order):
        if t.parents or t.step is not None or w.kinds[i] == PARAMETER:
            continue
        for u in w.users[i]:
            consumer = w.order[u]
            if any((consumer.op, consumer.name, j) in recurrent_slots for j, p in enumerate(consumer.parents) if p is t):
                initial[i] = True
        read_at = {w.order[u].step for u in w.users[i]}
        if w.kinds[i] != PARAMETER and not initial[i] and len(read_at) == 1:
            places[i] = read_at.pop()
    return places, initial


def _cost(w: _Walk, fold: str) -> set[int]:
    """The ops folded into the one cost node: the loss, and going back from it every op whose
    consumers are all folded and that only adds up the cost: an untagged unnamed op, an unnamed
    sum of tagged terms, and (``fold="one"``) each step's own term, named L by sequence_loss.
    ``fold="steps"`` keeps the per-step terms L(t) (Goodfellow's figure), ``"none"`` folds nothing."""
    if fold == "none":
        return set()
    root = w.live - 1
    folded = {root} if w.kinds[root] == OP else set()
    for i in range(root - 1, -1, -1):  # reverse topological order: consumers first
        t = w.order[i]
        if not t.parents or not w.users[i] or not all(u in folded for u in w.users[i]):
            continue
        summing = t.name is None and (t.step is None or t.op in _SUMMING)
        if summing or (fold == "one" and t.name in COST_NAMES):
            folded.add(i)
    return folded


def _roles(w: _Walk, places: list[int | None], initial: list[bool], folded: set[int]) -> list[Role]:
    roles: list[Role] = []
    counters: dict[tuple[int | None, Role], int] = {}
    for i, t in enumerate(w.order):
        kind = COST if i in folded else INITIAL if initial[i] else w.kinds[i]
        label = t.name or t.op or "const"
        if kind == PARAMETER:
            roles.append(Role(kind, label, t.shape, key=w.keys[i]))
            continue
        uses = tuple(p.name or "?" for p in t.parents if _kind(p) == PARAMETER)
        base = Role(kind, label, t.shape, uses)
        slot = (places[i], base)
        counters[slot] = counters.get(slot, 0) + 1
        roles.append(Role(kind, label, t.shape, uses, counters[slot] - 1))
    return roles


def shown_steps(steps: list[int], max_steps: int | None) -> list[int]:
    """The steps drawn: all, or the first ``max_steps // 2`` and the last ones."""
    if max_steps is None or len(steps) <= max_steps:
        return list(steps)
    if max_steps < 2:
        raise VizError(f"viz: max_steps must be at least 2 (the first and the last step), got {max_steps}")
    head = max_steps // 2
    return steps[:head] + steps[len(steps) - (max_steps - head) :]


def describe(
    roots: Tensor | Sequence[Tensor], *, max_steps: int | None = None, fold_cost: str = "one"
) -> Description:
    """Describe everything ``roots`` were computed from (give the loss, and the outputs left out
    of the cost if they should appear too).

    ``max_steps`` keeps the first and last steps (the others are described by their structure
    only, without numbers); ``fold_cost`` is "one" (the loss and its per-step terms become one
    cost node), "steps" (only the sums are folded) or "none" (the raw graph).
    """
    roots = [roots] if isinstance(roots, Tensor) else list(roots)
    if not roots or not all(isinstance(r, Tensor) for r in roots):
        raise VizError("viz: pass a Tensor (the loss) or a list of Tensors (the loss first) to draw")
    if fold_cost not in ("one", "steps", "none"):
        raise VizError(f"viz: fold_cost must be 'one', 'steps' or 'none', got {fold_cost!r}")
    w = _structure(roots)
    places, initial = _places(w)
    folded = _cost(w, fold_cost)
    roles = _roles(w, places, initial, folded)
    steps = sorted({t.step for t in w.order if t.step is not None})
    shown = shown_steps(steps, max_steps)
    visible = set(shown)
    drawn = [
        places[i] in visible or (places[i] is None and (w.kinds[i] != OP or i in folded)) or i in folded
        for i in range(len(w.order))
    ]
    # untagged ops outside the steps are drawn when a drawn tensor reads them
    for i in range(len(w.order) - 1, -1, -1):
        if not drawn[i] and places[i] is None and any(drawn[u] for u in w.users[i]):
            drawn[i] = True
    return _details(w, roots, places, roles, folded, drawn, steps, shown)


def _details(
    w: _Walk,
    roots: list[Tensor],
    places: list[int | None],
    roles: list[Role],
    folded: set[int],
    drawn: list[bool],
    steps: list[int],
    shown: list[int],
) -> Description:
    """The numbers of the drawn tensors: norms, values, gradients, each step's share of each
    parameter's gradient. Gradients are those of the last backward() from roots[0] (the loss):
    an extra root's own subgraph (an output left out of the cost) may still hold .grad from an
    earlier backward() through a different loss, which this one did not reset."""
    order, keys = w.order, w.keys
    replay = [t for i, t in enumerate(order[: w.live]) if drawn[i] and t.parents]
    with np.errstate(all="ignore"):  # replaying the rules repeats any warning backward() already gave
        carried = edge_gradients(roots[0], replay)
    nodes = []
    for i, t in enumerate(order):
        kind = roles[i].kind
        if not drawn[i]:
            nodes.append(Node(keys[i], kind, t.op, t.name, t.shape, t.step, places[i], roles[i], drawn=False))
            continue
        has_grad = (t.requires_grad or t.parents) and (not t.parents or i < w.live)
        grad = _norm(t.grad) if has_grad else None
        node = Node(keys[i], kind, t.op, t.name, t.shape, t.step, places[i], roles[i], True, grad, _norm(t.data),
                    _value(t))  # fmt: skip
        nodes.append(node)
    edges = []
    per_step: dict[tuple[str, int | None], np.ndarray] = {}  # (parameter, step): what that step added
    for i, t in enumerate(order):
        for j, p in enumerate(t.parents):
            g = carried.get((id(t), j))
            src = w.index[id(p)]
            edges.append(Edge(keys[src], keys[i], j, _norm(g)))
            if g is not None and w.kinds[src] == PARAMETER:
                slot = (keys[src], t.step)
                per_step[slot] = per_step[slot] + g if slot in per_step else g
    totals = {keys[i]: _norm(t.grad) for i, t in enumerate(order) if w.kinds[i] == PARAMETER}
    contributions = {slot: float(_norm(g)) for slot, g in per_step.items() if slot[1] is not None}  # type: ignore[misc]
    accumulated: set[str] = set()
    if len(shown) == len(steps):  # every use of every parameter was replayed
        added: dict[str, np.ndarray] = {}
        for (key, _), g in per_step.items():
            added[key] = added[key] + g if key in added else g
        for key, g in added.items():
            p = order[int(key[1:])]
            if p.grad is not None and not _same(p.grad, g):
                accumulated.add(key)
    cost = [keys[i] for i in sorted(folded)]
    reads: list[tuple[int, str]] = []
    for i in sorted(folded):
        for p in order[i].parents:
            j = w.index[id(p)]
            if j not in folded and w.kinds[j] != CONSTANT and keys[j] not in (k for _, k in reads):
                reads.append((p.step if p.step is not None else -1, keys[j]))
    reads.sort(key=lambda r: (r[0], int(r[1][1:])))
    loss = roots[0].data
    loss_value = float(loss) if np.size(loss) == 1 and loss.dtype.kind == "f" else None
    return Description(nodes, edges, [keys[w.index[id(r)]] for r in roots], steps, shown, totals, contributions,
                       accumulated, cost, [k for _, k in reads], loss_value)  # fmt: skip
