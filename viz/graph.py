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
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.analysis import hidden_states, jacobian_norms, per_use
from tinygrad_rnn.autograd import edge_gradients, local_gradients, pass_gradients, reduce_to, walk
from tinygrad_rnn.errors import BackwardError, ConfigError, DTypeError, VizError
from tinygrad_rnn.functional import TERM_OPS

PARAMETER, INITIAL, INPUT, CONSTANT, OP, COST = "parameter", "initial", "input", "constant", "op", "cost"
#: unnamed ops that only add up per-step costs (folded into the cost node even when tagged with a step)
_SUMMING = frozenset({"add", "sub", "neg", "sum", "mean"})
#: names of tensors that are terms of the cost (``sequence_loss`` names each step's term L)
COST_NAMES = frozenset({"L", "loss", "C", "cost"})
#: with steps elided, a recording of at most this many steps still has its parameters' ``.grad``
#: checked against the pass (every use's rule replayed): earlier passes and clipping are said
CHECKED_STEPS = 2000


@dataclass(frozen=True)
class Role:
    """The part a tensor plays at every step; the rolled view draws one node per role.

    Tensors share a role when they have the same kind, label (name, op or "const"), shape and
    parameters read (the same parameter tensors, not the same names), the same ops of their
    step read (``after``) and parameters reached on the way (``reach``), and the same rank among
    such tensors of their step: an encoder's h and a decoder's h differ, and so do an initial
    state h0 (1, 4) and the inputs x(t) (1, 2), and the two directions' GRU n, which read no
    parameter directly. A parameter's role is its own (``key``), even when two parameters
    share a name; a constant's is its place in the op that reads it (``reader``, at input
    ``rank``), so that the mask of one layer's where(...) is never folded with another's.
    """

    kind: str
    label: str
    shape: tuple[int, ...]
    uses: tuple[str, ...] = ()
    rank: int = 0
    key: str | None = None
    #: the ops of its own step it reads, each as (label, parameters read)
    after: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the parameters read by it and the ops of its step it is computed from
    reach: frozenset[str] = frozenset()
    #: a constant's: the role of the op that reads it (``rank``: at which input)
    reader: Role | None = None


class Node(NamedTuple):
    """One tensor of the graph (a named tuple: a long recording makes many).

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


class Edge(NamedTuple):
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
    #: checked when every step is drawn or the recording has at most ``CHECKED_STEPS`` steps
    accumulated: set[str] = field(default_factory=set)
    #: per parameter key whose ``.grad`` is the backward pass's gradient clipped afterwards
    #: (``optim.clip_grad_norm`` / ``clip_grad_value``): what the clipping did, in words
    clipped: dict[str, str] = field(default_factory=dict)
    #: the ops folded into the one cost node (empty when the cost is not folded)
    cost: list[str] = field(default_factory=list)
    #: what the cost node reads: the tensors feeding the folded ops, in step order
    cost_reads: list[str] = field(default_factory=list)
    #: the loss value (roots[0]) as a number, if it is a single number
    loss_value: float | None = None
    #: ``describe_roles`` only: per node, how many tensors of the recording it stands for; per
    #: edge (src, dst, index), how many recorded edges, and which of them join two steps
    weights: dict[str, int] = field(default_factory=dict)
    link_weights: dict[tuple[str, str, int], int] = field(default_factory=dict)
    crossing: set[tuple[str, str, int]] = field(default_factory=set)
    #: ``split=``: per use of a parameter (edge src, dst, index), each loss term's part of the
    #: gradient through it: (the term's name, L(3) or "rest", the norm), in the terms' order
    splits: dict[tuple[str, str, int], list[tuple[str, float]]] = field(default_factory=dict)
    #: ``jacobians=``: per drawn hidden state, (the previous state's key, ‖∂h(t)/∂h(t-1)‖; both
    #: None for the first state, ‖∂h(T)/∂h(t)‖), and the last state's key
    jacobians: dict[str, tuple[str | None, float | None, float]] = field(default_factory=dict)
    last_state: str | None = None  # h(T)'s name, as the overlay writes it
    #: the parameters changed in place since the last backward pass (an optimizer step), so its
    #: gradients could not be computed again (a forward view draws without them)
    changed_since: bool = False
    #: ``split=``: how many loss terms the loss was split into (0: not asked)
    split_terms: int = 0
    #: whether the parameters' ``.grad`` was compared with this pass's gradient (``accumulated``,
    #: ``clipped``): not for more than ``CHECKED_STEPS`` steps with some not drawn
    checked: bool = True
    #: what flowed back along each drawn edge from an op into an earlier step's tensor, by
    #: (src, dst, index): the lines that share a trunk add theirs up (h(t-1) into four gates)
    carried: dict[tuple[str, str, int], np.ndarray] = field(default_factory=dict)

    def note(self, key: str) -> str:
        """What a parameter's total needs said beside it: a clipping that explains how ``.grad``
        came from this pass's gradient, or else that ``.grad`` holds more than this pass."""
        if key in self.clipped:
            return f" ({self.clipped[key]})"
        return " (with earlier passes, or changed after backward)" if key in self.accumulated else ""

    def node(self, key: str) -> Node:
        return self._index[key]

    def __contains__(self, key: object) -> bool:
        """Whether ``key`` is a tensor the description holds (drawn or next to what is)."""
        return key in self._index

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
    """One walk of the graph: tensors in topological order, where each is, and how many
    times each is read."""

    order: list[Tensor]
    live: int  # order[:live] is what roots[0] (the loss) was computed from
    index: dict[int, int]  # id(tensor) -> position in order
    n_users: list[int]  # how many inputs of other tensors each one fills


def _structure(roots: list[Tensor]) -> _Walk:
    order = walk(*roots)
    index = {id(t): i for i, t in enumerate(order)}
    n_users = [0] * len(order)
    for k, count in Counter(id(p) for t in order for p in t.parents).items():
        n_users[index[k]] = count
    live = index[id(roots[0])] + 1  # walk() finishes the first root before it starts the next
    return _Walk(order, live, index, n_users)


def _cost(w: _Walk, fold: str) -> set[int]:
    """The ops folded into the one cost node: the loss, and going back from it every op whose
    readers are all folded and that only adds up the cost: an unnamed sum (+, −, sum, mean), an
    unnamed op made after the loop from the steps' tensors, directly or through other such ops
    ((h * h) of h(T), the (o - y)^2 of an mse on the last output), and
    (``fold="one"``) each step's own term, named L by sequence_loss, with the ops its loss
    function made from the output and the target alone (``functional.TERM_OPS``: an mse's
    (o - y)^2; the cost then reads o(t)). An op made after the loop that reads a parameter,
    directly or through such ops, is the model's and never folded (a readout o = h V).
    ``fold="steps"`` keeps the per-step terms L(t) (Goodfellow's figure), ``"none"`` folds nothing."""
    root = w.live - 1
    if fold == "none" or not w.order[root].parents:
        return set()
    folded = {root}
    reads = Counter(w.index[id(p)] for p in w.order[root].parents)  # per tensor: reads by folded ops
    late = set()  # untagged ops computed, directly or through other untagged ops, from the steps' tensors
    model = set()  # late ops reading a parameter, directly or through late ops: a readout made after the loop
    for i in range(root + 1):
        t = w.order[i]
        if t.step is None and t.parents and any(p.step is not None or w.index[id(p)] in late for p in t.parents):
            late.add(i)
            if any(_kind(p) == PARAMETER or w.index[id(p)] in model for p in t.parents):
                model.add(i)
    for i in range(root - 1, -1, -1):  # reverse topological order: readers first
        if reads.get(i, 0) != w.n_users[i] or not w.order[i].parents:
            continue
        t = w.order[i]
        term = fold == "one" and (t.name in COST_NAMES or id(t) in TERM_OPS)
        summing = t.name is None and (t.op in _SUMMING or i in late) and i not in model
        if summing or term:
            folded.add(i)
            reads.update(w.index[id(p)] for p in t.parents)
    return folded


def _scan(w: _Walk, steps: list[int], shown: list[int], folded: set[int]) -> list[int]:
    """The tensors whose inputs the diagram needs: those of the drawn steps and of the steps
    just beyond them (the lines into and out of the elision), untagged ops and the cost. All of
    them when every step is drawn; otherwise the elided steps are never looked at."""
    if len(shown) == len(steps):
        return list(range(len(w.order)))
    near = set(shown)
    position = {s: i for i, s in enumerate(steps)}
    for s in shown:
        for k in (position[s] - 1, position[s] + 1):
            if 0 <= k < len(steps):
                near.add(steps[k])
    return [i for i, t in enumerate(w.order) if t.step in near or (t.step is None and t.parents) or i in folded]


def _places(w: _Walk, scan: list[int]) -> tuple[dict[int, int | None], set[int]]:
    """The step each tensor is drawn in, and which leaves are initial states.

    A tensor's own step; for an untagged leaf (targets made before the loop) the one step that
    reads it; None (outside the steps) for parameters, untagged ops, leaves that several steps
    read, and initial states such as h(0): untagged leaves fed in an input slot that other
    steps fill from another step's tensor (the one before, or after in a backward direction).
    """
    order = w.order
    # (op, parameters read, input index) that some step fills from another step's tensor: the
    # parameters tell a GRU's gates apart (x and h(t-1) fill the same index of two affines), and
    # they are the ones several steps read (a leaf x(t) that requires grad is read by one); an op
    # reading none is told apart by its name instead
    first: dict[int, int | None] = {}  # parameter -> the first step seen reading it
    shared: set[int] = set()  # the parameters read by more than one step
    for i in scan:
        step = order[i].step
        for p in order[i].parents:
            if p.requires_grad and not p.parents and first.setdefault(id(p), step) != step:
                shared.add(id(p))
    recurrent_slots = set()
    leaf_reads: dict[int, list[tuple[tuple, int]]] = {}  # untagged leaf -> (reader's slot, input index)
    places: dict[int, int | None] = {}
    for i in scan:
        t = order[i]
        places[i] = t.step
        params = tuple(id(p) for p in t.parents if id(p) in shared)
        slot = (t.op, params) if params else (t.op, t.name)
        for j, p in enumerate(t.parents):
            if p.parents:
                if t.step is not None and p.step is not None and p.step != t.step:  # earlier, or later (h_reverse)
                    recurrent_slots.add((slot, j))
            else:
                k = w.index[id(p)]
                places[k] = p.step
                if p.step is None and not p.requires_grad:
                    leaf_reads.setdefault(k, []).append(((slot, t.step), j))
    initial = {k for k, reads in leaf_reads.items() if any((slot, j) in recurrent_slots for (slot, _), j in reads)}
    for k, reads in leaf_reads.items():
        steps = {step for (_, step), _ in reads}
        if k not in initial and len(steps) == 1:
            places[k] = steps.pop()
    for i in scan:  # the inputs of the scanned tensors that are ops (from the elided steps)
        for p in order[i].parents:
            places.setdefault(w.index[id(p)], p.step)
    return places, initial


def _roles(w: _Walk, places: dict[int, int | None], initial: set[int], folded: set[int]) -> dict[int, Role]:
    roles: dict[int, Role] = {}
    counters: dict[tuple[int | None, tuple[object, ...]], int] = {}
    made: dict[tuple[object, ...], Role] = {}  # one Role object per distinct role
    reached: dict[int, frozenset[str]] = {}  # the parameters an op's in-step ancestors read
    indices = range(len(w.order)) if len(places) == len(w.order) else sorted(places)
    for i in indices:
        t = w.order[i]
        kind = COST if i in folded else INITIAL if i in initial else _kind(t)
        label = t.name or t.op or "const"
        if kind == PARAMETER:
            roles[i] = Role(kind, label, t.shape, key=f"n{i}")
            continue
        if kind == CONSTANT:  # the part its reader gives it, below
            continue
        parents = t.parents
        # the parameters read, by identity: a bidirectional layer's two o-gates both read a "W_o"
        uses = tuple(f"n{w.index[id(p)]}" for p in parents if p.requires_grad and not p.parents) if parents else ()
        # the ops of its own step it reads, by their label and parameters: a backward direction's
        # f * c reads its own f, so it is not the forward direction's f * c
        before = [p for p in parents if p.parents and p.step == t.step]
        after = tuple((p.name or p.op or "", tuple(f"n{w.index[id(q)]}" for q in p.parents if q.requires_grad
                       and not q.parents)) for p in before)  # fmt: skip
        # and the parameters read on the way to it within its step: a GRU's n = tanh(a + r * (h W + b))
        # reads none itself, but each direction's reads its own
        reach = frozenset(uses).union(*(reached.get(w.index[id(p)], ()) for p in before))
        reached[i] = reach
        base = (kind, label, t.shape, uses, after, reach)
        slot = (places[i], base)
        rank = counters[slot] = counters.get(slot, -1) + 1
        key = (*base, rank)
        role = made.get(key)
        if role is None:
            role = made[key] = Role(kind, label, t.shape, uses, rank, after=after, reach=reach)
        roles[i] = role
    # a constant (a mask of where(...), the 1 of 1 - z) plays the part of its place in what reads
    # it: its rank among like constants of a step would differ from step to step, as the walk
    # reaches them in another order, and fold the mask of one layer's state with another's
    for i in indices:
        t = w.order[i]
        for j, p in enumerate(t.parents if i in roles else ()):
            k = w.index[id(p)]
            if k not in roles and k in places and _kind(p) == CONSTANT and k not in folded and k not in initial:
                key = (CONSTANT, "const", p.shape, roles[i], j)
                roles[k] = made.setdefault(key, Role(CONSTANT, "const", p.shape, rank=j, reader=roles[i]))
    for i in indices:  # a constant no drawn op reads (a root, say): a role of its own
        if i not in roles:
            t = w.order[i]
            roles[i] = made.setdefault(("lone", i), Role(_kind(t), t.name or t.op or "const", t.shape, key=f"n{i}"))
    return roles


def keys_of(roots: Tensor | Sequence[Tensor], tensors: Tensor | Sequence[Tensor]) -> list[str]:
    """The Description keys ("n<k>") of ``tensors`` in the graph of ``roots``; a VizError for
    one that is not in it."""
    order = walk(*_roots(roots, "one"))
    index = {id(t): i for i, t in enumerate(order)}
    out = []
    for t in [tensors] if isinstance(tensors, Tensor) else list(tensors):
        if not isinstance(t, Tensor) or id(t) not in index:
            raise VizError(f"viz.draw: mark= names {t!r:.60}, which is not a tensor of the graph drawn")
        out.append(f"n{index[id(t)]}")
    return out


def _tensor_list(given: Any) -> list[Tensor] | None:
    """A Tensor or a sequence of Tensors as a list; None for anything else."""
    if isinstance(given, Tensor):
        return [given]
    if isinstance(given, Sequence) and not isinstance(given, str) and all(isinstance(t, Tensor) for t in given):
        return list(given)
    return None


def as_roots(roots: Any, who: str = "viz") -> list[Tensor]:
    """A Tensor or a list of Tensors as a list; anything else a VizError saying what to pass."""
    found = _tensor_list(roots)
    if found:
        return found
    raise VizError(
        f"{who}: pass a Tensor (the loss) or a list of Tensors (the loss first) to draw, got {roots!r:.60} "
        f"({type(roots).__name__})"
    )


def _roots(roots: Tensor | Sequence[Tensor], fold_cost: str) -> list[Tensor]:
    """The roots as a list, after checking them and ``fold_cost``."""
    roots = as_roots(roots)
    if fold_cost not in ("one", "steps", "none"):
        raise VizError(f"viz: fold_cost must be 'one', 'steps' or 'none', got {fold_cost!r}")
    return roots


def _cost_reads(w: _Walk, folded: set[int], roles: dict[int, Role]) -> list[int]:
    """What the folded cost reads (its inputs that are not folded, constants aside), in step order."""
    reads: dict[int, None] = {}
    for i in sorted(folded):
        for p in w.order[i].parents:
            j = w.index[id(p)]
            if j not in folded and roles[j].kind != CONSTANT:
                reads[j] = None
    return sorted(reads, key=lambda j: (-1 if w.order[j].step is None else w.order[j].step, j))


def shown_steps(steps: list[int], max_steps: int | None) -> list[int]:
    """The steps drawn: all, or the first ``max_steps // 2`` and the last ones."""
    if max_steps is None or len(steps) <= max_steps:
        return list(steps)
    if max_steps < 2:
        raise VizError(f"viz: max_steps must be at least 2 (the first and the last step), got {max_steps}")
    head = max_steps // 2
    return steps[:head] + steps[len(steps) - (max_steps - head) :]


def describe(roots: Tensor | Sequence[Tensor], *, max_steps: int | None = None, fold_cost: str = "one",
             split: bool | Tensor | Sequence[Tensor] = False, jacobians: bool | Sequence[Tensor] = False,
             need_gradients: bool = True) -> Description:  # fmt: skip
    """Describe everything ``roots`` were computed from (give the loss, and the outputs left out
    of the cost if they should appear too).

    ``max_steps`` keeps the first and last steps: the description then holds the tensors of
    those steps (``drawn``), the cost, what is outside the steps, and the tensors next to them
    (not drawn, no numbers); nothing else of a long recording is looked at beyond one walk.
    ``fold_cost`` is "one" (the loss and its per-step terms become one cost node), "steps"
    (only the sums are folded) or "none" (the raw graph). ``split`` (True or parameters) adds
    each loss term's part of every drawn use of those parameters (``splits``); ``jacobians``
    (True or the states h(0..T)) the Jacobian norms of the drawn states (``jacobians``).
    With ``need_gradients=False`` (the forward view, which shows none but sizes its nodes as the
    backward view does), gradients that cannot be computed again (the parameters changed in
    place since the last backward pass: an optimizer step) are left out instead of raising.
    """
    roots = _roots(roots, fold_cost)
    w = _structure(roots)
    steps = sorted({t.step for t in w.order if t.step is not None})
    shown = shown_steps(steps, max_steps)
    folded = _cost(w, fold_cost)
    scan = _scan(w, steps, shown, folded)
    places, initial = _places(w, scan)
    roles = _roles(w, places, initial, folded)
    visible = set(shown)
    drawn = {
        i for i, s in places.items()
        if s in visible or i in folded or (s is None and (not w.order[i].parents or w.order[i].step is None))
    }  # fmt: skip
    desc = _details(w, roots, scan, places, roles, folded, drawn, steps, shown, need_gradients)
    drawn_keys = {n.key for n in desc.nodes if n.drawn}
    if split is not False and split is not None:
        params = [t for t in w.order[: w.live] if _kind(t) == PARAMETER] if split is True else _tensors(split, "split")
        desc.splits, desc.split_terms = _splits(w, roots, params, drawn_keys)
    if jacobians is not False and jacobians is not None:
        if jacobians is True:
            try:
                states = hidden_states(roots[0])
            except ConfigError:
                raise VizError(
                    "viz.draw(jacobians=True): no tensor named 'h' with a time step in the graph; pass the hidden "
                    "states yourself, jacobians=[h(0), ..., h(T)], each computed from the one before"
                ) from None
        else:
            states = _tensors(jacobians, "jacobians")
        desc.jacobians, desc.last_state = _jacobians(w, states, drawn_keys, found=jacobians is True)
    return desc


def _tensors(given: Any, what: str) -> list[Tensor]:
    """A Tensor or a list of Tensors given as ``what=`` to draw, as a list."""
    found = _tensor_list(given)
    if found is not None:
        return found
    raise VizError(f"viz.draw: {what}= takes True or a list of Tensors of the graph, got {given!r:.60}")


def _details(
    w: _Walk,
    roots: list[Tensor],
    scan: list[int],
    places: dict[int, int | None],
    roles: dict[int, Role],
    folded: set[int],
    drawn: set[int],
    steps: list[int],
    shown: list[int],
    need_gradients: bool = True,
) -> Description:
    """The numbers of the drawn tensors: norms, values, gradients, each step's share of each
    parameter's gradient. Gradients are those of the last backward() from roots[0] (the loss),
    computed again from the seed it keeps (``pass_gradients``): an extra root's own subgraph (an
    output left out of the cost) gets none. Parameters' totals are their ``.grad``. If they
    cannot be computed again and ``need_gradients`` is False, the tensors and edges get none."""
    order, index = w.order, w.index
    replay = [order[i] for i in sorted(drawn) if i < w.live and order[i].parents]
    with np.errstate(all="ignore"):  # replaying the rules repeats any warning backward() already gave
        changed = False
        try:
            grads = pass_gradients(roots[0])
        except BackwardError:
            if need_gradients:
                raise
            grads, changed = {}, True
        carried = edge_gradients(roots[0], replay, grads)
    nodes = []
    for i in sorted(places):
        t, role = order[i], roles[i]
        if i not in drawn:
            nodes.append(Node(f"n{i}", role.kind, t.op, t.name, t.shape, t.step, places[i], role, False))
            continue
        if not t.parents:
            grad = _norm(t.grad) if t.requires_grad else None
        else:
            grad = _norm(grads.get(t)) if i < w.live else None
        nodes.append(Node(f"n{i}", role.kind, t.op, t.name, t.shape, t.step, places[i], role, True, grad,
                          _norm(t.data), _value(t)))  # fmt: skip
    edges = []
    per_step: dict[tuple[str, int | None], np.ndarray] = {}  # (parameter, step): what that step added
    across: dict[tuple[str, str, int], np.ndarray] = {}
    for i in scan:
        t = order[i]
        for j, p in enumerate(t.parents):
            g = carried.get((id(t), j))
            src = f"n{index[id(p)]}"
            edges.append(Edge(src, f"n{i}", j, None if g is None else _norm(g)))
            if g is not None and i in drawn and p.parents and places.get(index[id(p)]) != places[i]:
                across[(src, f"n{i}", j)] = g
            if g is not None and p.requires_grad and not p.parents:
                slot = (src, t.step)
                per_step[slot] = per_step[slot] + g if slot in per_step else g
    totals = {f"n{i}": _norm(order[i].grad) for i in places if roles[i].kind == PARAMETER}
    contributions = {slot: float(_norm(g)) for slot, g in per_step.items() if slot[1] is not None}  # type: ignore[misc]
    accumulated: set[str] = set()
    clipped: dict[str, str] = {}
    checked = True
    added: dict[str, np.ndarray] = {}  # per parameter: what this backward pass gave it
    if len(shown) == len(steps):  # every use of every parameter was replayed
        for (key, _), g in per_step.items():
            added[key] = added[key] + g if key in added else g
    elif len(steps) > CHECKED_STEPS:
        checked = False
    else:  # replay the parameters' other uses too
        for t in order[: w.live]:
            for p in {id(p): p for p in t.parents if p.requires_grad and not p.parents}.values():
                key = f"n{index[id(p)]}"
                for _, _, g in local_gradients(t, grads.get(t), only=p):
                    added[key] = added[key] + reduce_to(p, g) if key in added else reduce_to(p, g)
    if added:
        for key, g in added.items():
            p = order[int(key[1:])]
            if p.grad is not None and not _same(p.grad, g):
                how = _clipping(p.grad, g)
                if how is None:
                    accumulated.add(key)
                else:
                    clipped[key] = how
    cost_reads = [f"n{j}" for j in _cost_reads(w, folded, roles)]
    loss = roots[0].data
    loss_value = float(loss) if np.size(loss) == 1 and loss.dtype.kind == "f" else None
    root_keys = [f"n{index[id(r)]}" for r in roots]
    desc = Description(nodes, edges, root_keys, steps, shown, totals, contributions, accumulated, clipped,
                       [f"n{i}" for i in sorted(folded)], cost_reads, loss_value)  # fmt: skip
    desc.carried, desc.checked, desc.changed_since = across, checked, changed
    return desc


def _clipping(grad: np.ndarray, added: np.ndarray) -> str | None:
    """How ``.grad`` came from this backward pass's gradient ``added`` by clipping, in words:
    scaled down as a whole (``clip_grad_norm``) or cut at ±c (``clip_grad_value``); None if
    neither explains it (earlier passes accumulated, or something else wrote ``.grad``)."""
    a = np.asarray(added, dtype=np.float64)
    g = np.asarray(grad, dtype=np.float64)
    aa = float(np.sum(a * a))
    if aa > 0 and math.isfinite(aa):
        r = float(np.sum(g * a)) / aa
        if 0 < r < 1 - 1e-9 and _same(grad, (r * a).astype(grad.dtype)):
            return f"scaled ×{_factor(r)} after backward, as clip_grad_norm does"
    c = float(np.max(np.abs(g), initial=0.0))
    over = np.abs(a) > c * (1 + 1e-6)
    if c > 0 and over.any() and _same(grad, np.clip(a, -c, c).astype(grad.dtype)):
        return f"cut to ±{c:.2g} at {int(over.sum())} of {a.size} entries after backward, as clip_grad_value does"
    return None


def _factor(r: float) -> str:
    """A factor below 1 with the digits that keep it below 1 (0.9995, not 1)."""
    for digits in range(2, 10):
        text = f"{r:.{digits}g}"
        if float(text) != 1:
            return text
    return repr(r)


def _splits(w: _Walk, roots: list[Tensor], params: list[Tensor], drawn: set[str]
            ) -> tuple[dict[tuple[str, str, int], list[tuple[str, float]]], int]:  # fmt: skip
    """``split=``: each drawn use of ``params`` with each loss term's part of its gradient
    (``analysis.per_use``: one backward pass per loss term of roots[0])."""
    try:
        found = per_use(roots[0], params)
    except ConfigError as e:
        raise VizError(f"viz.draw(split=...): {e}") from None
    names = found.names()
    out: dict[tuple[str, str, int], list[tuple[str, float]]] = {}
    if len(names) < 2:
        return out, len(names)  # one loss term: nothing to split (the caption says so)
    for u in found.uses:
        dst = f"n{w.index[id(u.op)]}"
        if dst in drawn:
            key = (f"n{w.index[id(u.param)]}", dst, u.index)
            out[key] = [(names[i], float(_norm(g) or 0.0)) for i, g in sorted(u.parts.items())]
    return out, len(names)


def _jacobians(w: _Walk, states: list[Tensor], drawn: set[str], found: bool = False
               ) -> tuple[dict[str, tuple[str | None, float | None, float]], str]:  # fmt: skip
    """``jacobians=``: per drawn state, (h(t-1)'s key, ‖∂h(t)/∂h(t-1)‖, ‖∂h(T)/∂h(t)‖) from
    ``analysis.jacobian_norms`` (exact, built from the engine's rules), and h(T)'s key."""
    for t, h in enumerate(states):
        if not isinstance(h, Tensor) or id(h) not in w.index:
            raise VizError(
                f"viz.draw(jacobians=...): states[{t}] ({h!r:.50}) is not a tensor of the graph drawn; pass the hidden "
                "states h(0..T) of the network that computed the loss, or jacobians=True to find them"
            )
    try:
        j = jacobian_norms(states)
    except (ConfigError, DTypeError) as e:
        if found:
            raise VizError(
                f"viz.draw(jacobians=True): the {len(states)} states named 'h' found in the graph (the last of each "
                "step) are not one chain, each computed from the one before; pass the chain you mean (one layer "
                "and direction): jacobians=[h(0), ..., h(T)]"
            ) from None
        raise VizError(f"viz.draw(jacobians=...): {e}") from None
    out: dict[str, tuple[str | None, float | None, float]] = {}
    for t, h in enumerate(states):
        key = f"n{w.index[id(h)]}"
        if key in drawn:
            prev = f"n{w.index[id(states[t - 1])]}" if t else None
            out[key] = (prev, float(j.one_step[t - 1]) if t else None, float(j.to_last[t]))
    last = states[-1]
    return out, f"{last.name or 'h'}({last.step})" if last.step is not None else (last.name or "h(T)")


def describe_roles(roots: Tensor | Sequence[Tensor], *, fold_cost: str = "one") -> Description:
    """The recording folded by role, for the rolled view: one node per role (its first tensor,
    ``weights`` saying how many it stands for), one edge per distinct (role, role, input)
    (``link_weights`` how many recorded edges, ``crossing`` those that join two steps), the
    parameters, and the outputs the cost reads. One pass over the graph and no numbers: a
    50,000-step recording folds in well under a second."""
    roots = _roots(roots, fold_cost)
    w = _structure(roots)
    order, index = w.order, w.index
    folded = _cost(w, fold_cost)
    places, initial = _places(w, list(range(len(order))))
    roles = _roles(w, places, initial, folded)
    first: dict[int, int] = {}  # id of a Role (one object per role) -> its first tensor
    rep = [first.setdefault(id(roles[i]), i) for i in range(len(order))]  # each tensor's role's first tensor
    weights = Counter(rep)
    links: dict[tuple[int, int, int], int] = {}
    crossing: set[tuple[int, int, int]] = set()
    for i, t in enumerate(order):
        ri, step = rep[i], t.step
        for j, p in enumerate(t.parents):
            link = (rep[index[id(p)]], ri, j)
            links[link] = links.get(link, 0) + 1
            if step is not None and p.step is not None and p.step != step:  # h_reverse(t+1) -> h_reverse(t) too
                crossing.add(link)
    reads = _cost_reads(w, folded, roles)
    firsts = set(first.values())
    keep = sorted(firsts | set(reads))
    nodes = [
        Node(f"n{i}", roles[i].kind, order[i].op, order[i].name, order[i].shape, order[i].step, places[i], roles[i],
             i in firsts)
        for i in keep
    ]  # fmt: skip
    edges = [Edge(f"n{a}", f"n{b}", j, None) for (a, b, j) in links]
    cost_reads = [f"n{j}" for j in reads]
    steps = sorted({t.step for t in order if t.step is not None})
    loss = roots[0].data
    return Description(
        nodes, edges, [f"n{index[id(r)]}" for r in roots], steps, steps, cost=[f"n{i}" for i in sorted(folded)],
        cost_reads=cost_reads, loss_value=float(loss) if np.size(loss) == 1 and loss.dtype.kind == "f" else None,
        weights={f"n{i}": c for i, c in weights.items()},
        link_weights={(f"n{a}", f"n{b}", j): c for (a, b, j), c in links.items()},
        crossing={(f"n{a}", f"n{b}", j) for (a, b, j) in crossing},
    )  # fmt: skip
