"""Where every mark of an unrolled diagram goes: positions computed here, not by Graphviz.

An unrolled RNN is a grid: time steps are columns, the parts a tensor plays (x, h, o, ...) are
rows. Laying the grid out ourselves (instead of asking ``dot`` to find one) is what lets every
per-step mark sit in its own step's frame, keeps rows aligned across steps and labels off the
lines, makes ``dot`` and the in-process renderer draw the same picture (every position is
pinned), and costs time in the number of drawn nodes only.

Coordinates are points, y growing downwards (as in SVG); ``draw`` flips them for Graphviz.
The steps of ``unrolled``:

1. rows: inside a step, a tensor sits one row above the highest of its inputs from the same
   step, leaves just below their first reader; a role (h, o, ...) takes the same row in every
   step, so rows line up across steps;
2. columns: one per drawn step (a frame titled ``t = k``), a narrow one for the elided steps,
   one before the steps for what is outside them (initial states such as h0); each step keeps a
   lane on its left for the labels of the lines coming in from the previous step;
3. the cost: one node above the frames, joined to each output it reads by a riser;
4. lines: straight, or bent through the step's lane where a straight one would cross a node;
5. labels: each parameter's mark (its name forward, that step's share ‖∂L/∂W(t)‖ backward) on
   the line it acts on (U on x → h, W on h(t-1) → h(t), ...) or, for a bias, on a short stub
   into the node; placed by trying positions along the line inside the step's frame until one
   touches no node, line or other label.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from itertools import chain

import numpy as np

from . import text
from .graph import CONSTANT, COST, INITIAL, INPUT, OP, PARAMETER, Description, Edge, Node
from .scale import Scale

NODE_FONT, LABEL_FONT, TITLE_FONT = 10.0, 8.5, 11.0
ROW_GAP = 58.0  # between rows: room for the labels of the lines that join them
NODE_GAP = 18.0  # between nodes of one row
COLUMN_GAP = 14.0  # between step frames
PAD = 10.0  # inside a frame, around its nodes
TITLE = 18.0  # the frame's title strip, at its bottom
COST_RISE = 46.0  # from the frames' top to the cost node
SYMBOLS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "matmul": "@", "neg": "−", "pow": "^"}
_ROLLED_GAP = 150.0  # between roles of one row in the rolled view: room for a loop and its label
_PAIRED_OPS = ("matmul", "affine", "tanh(affine)", "relu(affine)", "sigmoid(affine)")


@dataclass
class Rect:
    cx: float
    cy: float
    w: float
    h: float

    @property
    def left(self) -> float:
        return self.cx - self.w / 2

    @property
    def right(self) -> float:
        return self.cx + self.w / 2

    @property
    def top(self) -> float:
        return self.cy - self.h / 2

    @property
    def bottom(self) -> float:
        return self.cy + self.h / 2

    def overlaps(self, o: Rect, pad: float = 0.0) -> bool:
        return not (
            self.right + pad <= o.left or o.right + pad <= self.left or self.bottom + pad <= o.top
            or o.bottom + pad <= self.top
        )  # fmt: skip

    def inside(self, o: Rect) -> bool:
        return o.left <= self.left and self.right <= o.right and o.top <= self.top and self.bottom <= o.bottom

    def crossed_by(self, a: tuple[float, float], b: tuple[float, float]) -> bool:
        """Whether the segment a-b passes through this rectangle (Liang-Barsky clipping)."""
        t0, t1 = 0.0, 1.0
        dx, dy = b[0] - a[0], b[1] - a[1]
        sides = ((-dx, a[0] - self.left), (dx, self.right - a[0]), (-dy, a[1] - self.top), (dy, self.bottom - a[1]))
        for p, q in sides:
            if p == 0:
                if q < 0:
                    return False
                continue
            r = q / p
            if p < 0:
                t0 = max(t0, r)
            else:
                t1 = min(t1, r)
            if t0 > t1:
                return False
        return t1 - t0 > 1e-9


@dataclass
class Item:
    """A positioned mark. ``kind``: "tensor" (a node of the recording, ``key`` its
    Description key), "cost", "label" (text on or beside a line), "point" (a line's bend or a
    stub's end), "frame" (a step's box), "elision", "legend", "caption". ``step``: the time
    step the mark belongs to (labels, frames, tensors), for the tests' "is it in its step"."""

    id: str
    kind: str
    rect: Rect
    lines: list[str] = field(default_factory=list)
    step: int | None = None
    key: str | None = None
    font: float = NODE_FONT


@dataclass
class Line:
    """A line of the diagram from item ``ids[0]`` to ``ids[-1]`` through points. ``edge``: the
    recorded edge it draws (None for a cost riser's or the elision's); ``param``: the parameter
    key of a stub; ``role``: "data", "stub", "cost", "elision"."""

    ids: list[str]
    role: str
    edge: Edge | None = None
    param: str | None = None
    share: float | None = None
    twin: Line | None = None  # view="both": the forward line drawn beside this one
    #: a piece of a "trunk" (the shared part of the lines from one tensor into several of a step's
    #: tensors, such as h(t-1) into an LSTM's four gates): the edges whose gradients it carries
    carries: list[Edge] = field(default_factory=list)
    trunk: str | None = None  # the trunk a piece or a branch belongs to: one line to a reader
    #: where the line meets its first (0) or last (-1) item, if not where the way to its centre
    #: crosses its border: an anchor on that border (``_part_ends``); ``ids`` keep the item
    ports: dict[int, str] = field(default_factory=dict)

    def points(self) -> list[str]:
        """The ids of the points the line is drawn through: ``ids``, each end at its port."""
        if not self.ports:
            return self.ids
        return [self.ports.get(0, self.ids[0]), *self.ids[1:-1], self.ports.get(-1, self.ids[-1])]


@dataclass
class Layout:
    items: dict[str, Item]
    lines: list[Line]
    frames: dict[int, Item]
    conflicts: list[str]  # labels that found no free place (the tests expect none)
    reserved: dict[str, Rect] = field(default_factory=dict)  # a stub's end -> its label's place
    track: float = 5.0  # between the lines bent down a step's lane (wider with forward twins beside them)
    pitch: float = 4.0  # between level lines run through a gap under a row (wider with forward twins)
    lane_start: dict[int, float] = field(default_factory=dict)  # per step: where in its lane those lines start
    unpaired: list[str] = field(default_factory=list)  # labels nearer another line than their own
    labelled: bool = True  # parameters are labels on the lines (style="textbook"), not lines of their own
    #: with elided steps: per tensor a line into or out of them leaves from, the elision's mark in its row
    marks: dict[str, str] = field(default_factory=dict)
    #: while ``_lines`` routes: what a line goes round (``_in_the_way``), in a Grid
    blocks: Grid | None = None
    right_lanes: bool = False  # a step has a lane on its right, for the labels of lines from the next step

    def segments(self, line: Line) -> list[tuple[tuple[float, float], tuple[float, float]]]:
        """The straight pieces of ``line``, clipped at the boxes they start and end in."""
        rects = [self.items[i] for i in line.points()]
        out = []
        for a, b in zip(rects, rects[1:], strict=False):
            p, q = (a.rect.cx, a.rect.cy), (b.rect.cx, b.rect.cy)
            out.append((_clip(a, q, p), _clip(b, p, q)))
        return out


def _clip(item: Item, frm: tuple[float, float], at: tuple[float, float]) -> tuple[float, float]:
    """Where the segment from ``frm`` to the centre ``at`` of ``item`` meets its border."""
    if item.kind in ("point", "anchor"):
        return at
    r = item.rect
    dx, dy = frm[0] - at[0], frm[1] - at[1]
    if dx == 0 and dy == 0:
        return at
    s = min(r.w / 2 / abs(dx) if dx else math.inf, r.h / 2 / abs(dy) if dy else math.inf)
    return at[0] + dx * min(s, 1.0), at[1] + dy * min(s, 1.0)


Box = tuple[float, float, float, float]  # left, top, right, bottom


class Grid:
    """Boxes (a line's piece, a node, a label) bucketed by a coarse grid: what lies near a place
    is looked up in the few buckets round it instead of over the whole drawing (a 2-layer
    bidirectional LSTM draws thousands of pieces and places hundreds of labels)."""

    CELL = 256.0

    def __init__(self, things: Iterable[tuple[Box, object]] = ()) -> None:
        self._cells: dict[tuple[int, int], list[int]] = {}
        self._things: list[tuple[Box, object]] = []
        for box, thing in things:
            self.add(box, thing)

    def _keys(self, box: Box) -> Iterator[tuple[int, int]]:
        c = self.CELL
        for i in range(math.floor(box[0] / c), math.floor(box[2] / c) + 1):
            for j in range(math.floor(box[1] / c), math.floor(box[3] / c) + 1):
                yield i, j

    def add(self, box: Box, thing: object) -> None:
        self._things.append((box, thing))
        for key in self._keys(box):
            self._cells.setdefault(key, []).append(len(self._things) - 1)

    def all(self) -> list:  # type: ignore[type-arg]
        """Everything added, in that order."""
        return [thing for _, thing in self._things]

    def near(self, box: Box) -> list:  # type: ignore[type-arg]
        """What lies in or touches ``box``, in the order it was added."""
        left, top, right, bottom = box
        found = sorted({i for key in self._keys(box) for i in self._cells.get(key, ())})
        return [thing for i in found for b, thing in (self._things[i],)
                if b[0] <= right and b[2] >= left and b[1] <= bottom and b[3] >= top]  # fmt: skip


def segment_box(seg: tuple[tuple[float, float], tuple[float, float]]) -> Box:
    (x0, y0), (x1, y1) = seg
    return min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)


def rect_box(r: Rect) -> Box:
    return r.left, r.top, r.right, r.bottom


def _pieces_grid(layout: Layout) -> Grid:
    """Every piece of every line of ``layout`` so far, as (line, piece)."""
    return Grid((segment_box(seg), (line, seg)) for line in layout.lines for seg in layout.segments(line))


def overlap(p1: tuple[float, float], p2: tuple[float, float], q1: tuple[float, float],
            q2: tuple[float, float]) -> float:  # fmt: skip
    """How long segments p1-p2 and q1-q2 run on top of each other (0 unless parallel within
    about 2 degrees and less than 2 pt apart)."""
    dx, dy = p2[0] - p1[0], p2[1] - p1[1]
    n = math.hypot(dx, dy)
    m = math.hypot(q2[0] - q1[0], q2[1] - q1[1])
    if n < 1e-9 or m < 1e-9:
        return 0.0
    ux, uy = dx / n, dy / n
    if abs(ux * (q2[1] - q1[1]) - uy * (q2[0] - q1[0])) / m > 0.035:
        return 0.0
    if abs(ux * (q1[1] - p1[1]) - uy * (q1[0] - p1[0])) > 2.0:
        return 0.0
    s1 = ux * (q1[0] - p1[0]) + uy * (q1[1] - p1[1])
    s2 = ux * (q2[0] - p1[0]) + uy * (q2[1] - p1[1])
    return max(0.0, min(n, max(s1, s2)) - max(0.0, min(s1, s2)))


# --- what the nodes say ---------------------------------------------------------------------


def fmt(x: float | None) -> str:
    """A gradient norm as a diagram writes it: two significant digits (3.7e-01), 0, or –."""
    if x is None:
        return "–"
    return "0" if x == 0 else f"{x:.1e}"


def shape_text(shape: tuple[int, ...]) -> str:
    if not shape:
        return "scalar"
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def display_name(n: Node, desc: Description) -> str:
    """h(2) for a named tensor of step 2; h0 for an initial state; "@ W", "+", "tanh" for an
    unnamed op (naming the parameters a product reads tells two products apart)."""
    if n.kind == PARAMETER:
        return n.name or "param"
    if n.name:
        return f"{n.name}({n.step})" if n.step is not None else n.name
    if n.kind == CONSTANT:
        return n.value if (not n.shape or n.value.startswith("[")) else "const"
    sym = SYMBOLS.get(n.op or "", n.op or "const")
    params = [desc.node(e.src).name or "param" for e in desc.incoming(n.key) if desc.node(e.src).kind == PARAMETER]
    return f"{sym} {', '.join(params)}" if params and n.op in SYMBOLS else sym


def node_lines(n: Node, desc: Description, backward: bool, values: bool) -> list[str]:
    name = display_name(n, desc)
    if n.kind == CONSTANT:
        return [name] + ([shape_text(n.shape)] if name == "const" else [])
    lines = [name]
    if n.kind in (INPUT, INITIAL, CONSTANT) or not backward:
        lines.append(shape_text(n.shape))
    else:
        who = n.name if n.name else "·"  # the step is on the first line
        lines.append(f"‖∂L/∂{who}‖ = {fmt(n.grad_norm)}")
        lines += jacobian_lines(n, desc)
    if values:
        lines.append(n.value)
    return lines


#: ``jacobians=``: a state from which less than this part of a gradient at h(T) can come back
#: is where the gradient has died (outlined)
DIES = 1e-3


def jacobian_lines(n: Node, desc: Description) -> list[str]:
    """``jacobians=``: under a hidden state h(t), the norm of the one-step Jacobian that made it
    and of ∂h(T)/∂h(t), how much of a gradient at the last state reaches it."""
    if n.key not in desc.jacobians:
        return []
    prev, one_step, to_last = desc.jacobians[n.key]
    me = step_name(n, desc)
    before = step_name(desc.node(prev), desc) if prev in desc else "previous"
    lines = [f"‖∂{me}/∂{before}‖ = {fmt(one_step)}"] if prev is not None else []
    if desc.last_state is not None and desc.last_state != me:
        lines.append(f"‖∂{desc.last_state}/∂{me}‖ = {fmt(to_last)}")
    return lines


def step_name(n: Node, desc: Description) -> str:
    """A tensor named with its step: o(2), ×(3) for an unnamed product of step 3."""
    name = display_name(n, desc)
    return f"{name}({n.step})" if n.name is None and n.step is not None else name


def cost_lines(desc: Description, backward: bool, values: bool) -> list[str]:
    """C(o(2), o(3), o(4)) and the loss value (forward) or ∂L/∂L = 1 (backward). The outputs it
    reads are named; the targets (inputs it reads) only when it reads nothing else."""
    outputs = [k for k in desc.cost_reads if desc.node(k).kind == OP] or desc.cost_reads
    reads = [step_name(desc.node(k), desc) for k in outputs]
    head = f"C({name_list(reads)})" if reads else "C"
    value = "–" if desc.loss_value is None else f"{desc.loss_value:.4g}"
    return [head, "∂L/∂L = 1" if backward else f"L = {value}"] + ([f"{len(desc.cost)} ops folded"] if values else [])


def name_list(names: list[str]) -> str:
    """Names joined by commas, at most five: a longer list keeps its first and last two around
    "…" (the cost node and the caption cut it the same way)."""
    return ", ".join(names if len(names) <= 5 else names[:2] + ["…"] + names[-2:])


def short_name(param: Node) -> str:
    """A parameter's own name without its module's (``decoder.W`` -> ``W``): the frame's title
    names the module (``t = 3 · decoder``)."""
    return (param.name or "param").rsplit(".", 1)[-1]


#: ``split=``: at most this many loss terms under a share (the largest, with "+ k smaller")
SPLIT_LINES = 4


def share_lines(param: Node, step: int | None, share: float | None, backward: bool, name: str | None = None,
                split: list[tuple[str, float]] | None = None) -> list[str]:  # fmt: skip
    """A parameter's label: its name (forward); that use's share ‖∂L/∂W(t)‖ (backward), and
    with ``split`` each loss term's part of it, L(4): ‖∂L(4)/∂W(t)‖."""
    name = name or short_name(param)
    if not backward:
        return [name]
    at = f"({step})" if step is not None else ""
    return [f"‖∂L/∂{name}{at}‖", fmt(share)] + split_lines(split or [])


def split_lines(split: list[tuple[str, float]]) -> list[str]:
    """Each loss term's part, in the terms' order; beyond ``SPLIT_LINES`` terms the largest
    ones and how many smaller ones were left out."""
    nonzero = [(term, norm) for term, norm in split if norm != 0]
    zeros = len(split) - len(nonzero)
    room = SPLIT_LINES - (zeros > 0)
    if len(nonzero) <= room:
        kept = nonzero
    else:
        top = sorted(range(len(nonzero)), key=lambda i: -nonzero[i][1])[: room - 1]
        kept = [nonzero[i] for i in sorted(top)]
    lines = [f"{term}: {fmt(norm)}" for term, norm in kept]
    lines += [f"+ {len(nonzero) - len(kept)} smaller"] if len(kept) < len(nonzero) else []
    return lines + ([f"+ {zeros} at 0"] if zeros and nonzero else [])


# --- the grid -------------------------------------------------------------------------------


def _rows(desc: Description, in_step: dict[int, list[Node]]) -> dict[str, int]:
    """Row of every tensor drawn in a step (0 at the bottom)."""
    level: dict[str, int] = {}
    for nodes in in_step.values():
        here = {n.key for n in nodes}
        for n in nodes:  # topological order
            ins = [level[e.src] for e in desc.incoming(n.key) if e.src in here]
            level[n.key] = 1 + max(ins) if ins else 0
        top = max((level[n.key] for n in nodes), default=0)
        _below_readers(desc, nodes, level, top)
    row = dict(level)
    carried = {n.role for nodes in in_step.values() for n in nodes if n.kind == OP and any(
        desc.node(e.dst).place is not None and desc.node(e.dst).place != n.place for e in desc.outgoing(n.key))}
    for nodes in in_step.values():
        _bands(desc, nodes, row, carried)
    for _ in range(4):  # one row per role, every input of a tensor below it
        by_role: dict[object, int] = {}
        for nodes in in_step.values():
            for n in nodes:
                by_role[n.role] = max(by_role.get(n.role, 0), row[n.key])
        changed = False
        for nodes in in_step.values():
            here = {n.key for n in nodes}
            for n in nodes:
                if n.kind == CONSTANT:  # a constant's role is its place in its reader: it places nothing
                    continue
                ins = [row[e.src] + 1 for e in desc.incoming(n.key) if e.src in here]
                r = max([by_role[n.role], *ins])
                changed |= r != row[n.key]
                row[n.key] = r
        if not changed:
            break
    for nodes in in_step.values():  # a constant (a mask of where(...)) just below what reads it
        _below_readers(desc, nodes, row, max(row[n.key] for n in nodes), CONSTANT)
    return row


def _below_readers(desc: Description, nodes: list[Node], row: dict[str, int], top: int, kind: str | None = None
                   ) -> None:
    """Each of the step's tensors with no input from its step (only those of ``kind``, if given)
    goes just below the lowest tensor reading it; one read by nothing in its step (a target the
    cost reads) at the ``top``, next to the cost."""
    here = {n.key for n in nodes}
    for n in reversed(nodes):  # readers first
        if kind in (None, n.kind) and not any(e.src in here for e in desc.incoming(n.key)):
            readers = [row[e.dst] for e in desc.outgoing(n.key) if e.dst in here]
            row[n.key] = max(0, min(readers) - 1) if readers else top


def _bands(desc: Description, nodes: list[Node], row: dict[str, int], carried: set[object]) -> None:
    """A step that runs two recurrences side by side (a bidirectional layer: h and h_reverse,
    with their gates and cells) draws each in a band of rows of its own, one above the other,
    so that neither's lines run through the other's tensors. Moves ``row`` in place.

    A band is a set of the step's ops joined by lines. An op whose inputs come from two such
    sets that take part in different recurrences (they read and compute states of different
    roles; ``carried`` are the roles another step reads) joins them: a stacked bidirectional
    layer's output [h, h_reverse], read by the next layer. It belongs to no band, and what
    it feeds starts a band of its own. An LSTM's h = o * tanh(c) joins nothing: o and c both
    read h(t-1), and a peephole LSTM's f = sigmoid(z W_f + c p_f) goes on into c, a state of one
    of the recurrences it meets. Within a layer, the backward direction (reading the step after)
    goes lowest; a band reading a join comes above the bands that feed it."""
    here = {n.key for n in nodes}
    ops = [n.key for n in nodes if n.kind == OP]
    parents = {k: [e.src for e in desc.incoming(k) if e.src in here and desc.node(e.src).kind == OP] for k in ops}
    owner = {k: k for k in ops}  # union-find over the ops, in topological order

    def find(k: str) -> str:
        while owner[k] != k:
            owner[k] = owner[owner[k]]
            k = owner[k]
        return owner[k]

    def recurrences(group: set[str]) -> set[object]:
        # the recurrences a set of ops takes part in: the roles of the states it reads from
        # another step (or an initial state) and of the states it computes; not the inputs,
        # even those computed before the loop, which every direction reads
        roles = {desc.node(k).role for k in group if desc.node(k).role in carried}
        sources = [desc.node(e.src) for k in group for e in desc.incoming(k) if e.src not in here]
        return roles | {src.role for src in sources if src.kind == INITIAL or src.role in carried}

    def feeds(k: str, roles: set[object]) -> bool:
        # whether k goes on, within its step, into a state of one of ``roles``
        seen, todo = {k}, [k]
        while todo:
            for e in desc.outgoing(todo.pop()):
                if e.dst in here and e.dst not in seen:
                    if desc.node(e.dst).role in roles:
                        return True
                    seen.add(e.dst)
                    todo.append(e.dst)
        return False

    joins: set[str] = set()
    for k in ops:
        groups = {find(src) for src in parents[k] if src not in joins}
        if len(groups) > 1:
            members: dict[str, set[str]] = {}
            for o in ops:
                members.setdefault(find(o), set()).add(o)
            own = [r for g in groups if (r := recurrences(members[g]))]
            # two recurrences of their own meet here, and k feeds neither back (a peephole
            # LSTM's f = sigmoid(z W_f + c p_f) meets h and c, but goes on into c)
            if any(not a & b for i, a in enumerate(own) for b in own[i + 1:]) and not feeds(k, set().union(*own)):
                joins.add(k)
                continue
        for g in groups:
            owner[g] = find(k)
    found: dict[str, set[str]] = {}
    for k in ops:
        if k not in joins:
            found.setdefault(find(k), set()).add(k)
    bands = list(found.values())
    if len(bands) < 2:
        return
    place = nodes[0].place
    # a band reading a join comes above the bands that feed it (the next layer above the last)
    level: dict[int, int] = {}
    for _ in bands:
        for i, band in enumerate(bands):
            feeding = [j for j, other in enumerate(bands) if j != i and any(
                e.src in other for k in band for e0 in desc.incoming(k) if e0.src in joins
                for e in desc.incoming(e0.src))]  # fmt: skip
            level[i] = 1 + max((level.get(j, 0) for j in feeding), default=-1)

    def backward_first(band: set[str]) -> tuple[int, int]:
        # reads the step after, or (the last step) is read by the step before
        later = any(desc.node(e.src).place is not None and place is not None and desc.node(e.src).place > place
                    for k in band for e in desc.incoming(k))  # fmt: skip
        earlier = any(desc.node(e.dst).place is not None and place is not None and desc.node(e.dst).place < place
                      for k in band for e in desc.outgoing(k))  # fmt: skip
        return (0 if later or earlier else 1, min(int(k[1:]) for k in band))

    base = min(row[k] for b in bands for k in b)
    last = 0
    for i in sorted(range(len(bands)), key=lambda i: (level[i], backward_first(bands[i]))):
        band = bands[i]
        base += level[i] - last  # a row between two levels, for the join
        last = level[i]
        low, high = min(row[k] for k in band), max(row[k] for k in band)
        for k in band:
            row[k] += base - low
        base += high - low + 1


def _pairs(desc: Description, n: Node) -> dict[int, list[str]]:
    """Per input index of ``n``: the parameters acting on that input (x U: U on x's line).

    In a product (``matmul``) the parameter acts on the other factor; in the fused RNN step
    ``affine(b, (h, W), (x, U))`` each weight acts on the input before it. A parameter acting on
    nothing else (a bias, a parameter added or multiplied elementwise) gets a stub of its own.
    """
    pairs: dict[int, list[str]] = {}
    if n.op not in _PAIRED_OPS:
        return pairs
    # by input index: a folded description can hold several edges into one input (h0 and h(t-1))
    data = {e.index for e in desc.incoming(n.key) if desc.node(e.src).kind != PARAMETER}
    for e in desc.incoming(n.key):
        if desc.node(e.src).kind == PARAMETER and _acts_on(n.op, e.index) in data:
            _add_once(pairs.setdefault(_acts_on(n.op, e.index), []), e.src)
    return pairs


def _acts_on(op: str | None, i: int) -> int:
    """The input a weight at input ``i`` of ``op`` acts on (-1: none, a bias): the other factor
    of a product, the input just before it in ``affine(b, (h, W), (x, U))``."""
    if op == "matmul":
        return 1 - i if i < 2 else -1
    return i - 1 if i % 2 == 0 and i > 0 else -1


def unrolled(desc: Description, backward: bool, values: bool, style: str = "textbook", twins: bool = False
             ) -> Layout:  # fmt: skip
    """The unrolled layout of ``desc``. ``style="textbook"``: parameters as labels on the lines
    they act on, at every step. ``style="full"``: each parameter drawn once under the steps, its
    line running under the frames and rising into each step that uses it, that step's share
    ``‖∂L/∂W(t)‖`` written where it rises.

    Where a label finds no free place (a step with several labelled inputs side by side), the
    layout is made again with the nodes of a row, and the rows, further apart, up to four times,
    then those four again with the right lanes wider too (where none places every label, the one
    that misplaces fewest is kept: its misplaced labels are in ``Layout.conflicts`` and
    ``Layout.unpaired``). The backward view's labels (the longer
    ones) decide, so that both views keep one layout. ``twins``: the
    backward layout with a forward line beside each line that carries data (view="both")."""
    room = _label_width(desc, [n for n in desc.nodes if n.drawn])
    # split=: labels taller than the two lines of a share get that much more room above and below
    tallest = max((text.box(["·", "·", *split_lines(v)], LABEL_FONT)[1] for v in desc.splits.values()), default=0.0)
    row_gap = ROW_GAP + 2 * max(0.0, tallest - text.box(["·", "·"], LABEL_FONT)[1])
    tries = []
    # the lanes wider too: the lines bent down them can take a label's room; where that places
    # not every label, the lanes on the right too (for the labels of lines from the next step)
    for widen in [*range(5), *range(1, 5)]:
        right = len(tries) >= 5
        if right and not tries[0][0].right_lanes:
            break  # no step has a lane on its right: the same layouts again
        lane = widen * 4 * (2 * TWIN_GAP + 1 if twins else 5.0)
        gaps = (NODE_GAP + widen * room, row_gap + 12 * widen, lane, lane if right else 0.0)
        tries.append((_unrolled(desc, True, values, style, *gaps, twins=twins), gaps))
        if not tries[-1][0].conflicts and not tries[-1][0].unpaired:
            break
    # where no spacing places every label, the one with the fewest misplaced (the first of those)
    checked, gaps = min(tries, key=lambda t: (len(t[0].conflicts), len(t[0].unpaired)))
    return checked if backward or twins else _unrolled(desc, backward, values, style, *gaps)


def _unrolled(desc: Description, backward: bool, values: bool, style: str, node_gap: float, row_gap: float,
              lane_extra: float = 0.0, right_extra: float = 0.0, twins: bool = False) -> Layout:  # fmt: skip
    full = style == "full" and bool(desc.steps)  # without steps there is nothing to run a line under
    drawn = [n for n in desc.nodes if n.drawn]
    shown = set(desc.shown)
    in_step: dict[int, list[Node]] = {s: [] for s in desc.shown}
    outside: list[Node] = []
    for n in drawn:
        if n.kind in (PARAMETER, COST) or _target_of_the_cost(desc, n):
            continue
        if n.place in shown:
            in_step[n.place].append(n)  # type: ignore[index]
        elif n.place is None:
            outside.append(n)
    if not desc.steps:  # a graph without time steps: one column, inputs at the bottom, no frame
        in_step, outside = {None: outside}, []  # type: ignore[dict-item]
    row = _rows(desc, in_step)
    # a role takes the same place in its row at every step (h left of h_reverse at each t, even
    # where the recording made h_reverse(t) first): the order in which the roles first appear
    rank: dict[object, int] = {}
    for s in sorted(k for k in in_step if k is not None):
        for n in in_step[s]:
            rank.setdefault(n.role, len(rank))
    # an input that several steps read (vec2seq's x) runs along a line under the frames
    shared = [n for n in outside if n.kind != INITIAL and len(_reading_steps(desc, n, shown)) > 1]
    outside = [n for n in outside if n not in shared]
    # an untagged op that reads the steps' tensors (a readout of h(T) made after the loop) comes
    # after the last step, one row above what it reads; the rest of what is outside the steps
    # (h0, inputs, untagged ops before the loop) comes before the first step
    after: list[Node] = []
    for n in outside:
        ins = [row[e.src] for e in desc.incoming(n.key) if e.src in row]
        if n.kind == OP and (ins or any(e.src in {a.key for a in after} for e in desc.incoming(n.key))):
            after.append(n)
            row[n.key] = max(ins, default=0) + 1
    outside = [n for n in outside if n not in after]
    # the initial state of a backward direction (read first by the last step) comes after the
    # last step, where that direction starts
    closing = {n.key for n in outside if n.kind == INITIAL and desc.shown and _from_the_end(desc, n)}
    for n in [n for n in outside if n.key in closing]:
        row[n.key] = min(row[e.dst] for e in desc.outgoing(n.key) if e.dst in row)
        outside.remove(n)
        after.append(n)
    # a leaf only such ops read (the labels of a loss made after the loop) sits beside its reader
    after_keys = {n.key for n in after}
    for n in [n for n in outside if n.kind != INITIAL]:
        readers = [e.dst for e in desc.outgoing(n.key) if e.dst in row]
        if readers and all(r in after_keys for r in readers):
            row[n.key] = row[readers[0]]
            outside.remove(n)
            after.insert(0, n)
    for n in outside:  # beside the first step that reads it
        readers = [row[e.dst] for e in desc.outgoing(n.key) if e.dst in row]
        row[n.key] = min(readers) if readers else 0
    # sizes: the larger of the two views' labels, so forward and backward share one layout
    items: dict[str, Item] = {}
    for n in in_step_nodes(in_step) + outside + after + shared:
        lines = node_lines(n, desc, backward, values)
        both = lines + node_lines(n, desc, not backward, values)
        w, h = text.box(both, NODE_FONT)
        h = text.box(lines, NODE_FONT)[1]
        items[n.key] = Item(n.key, "tensor", Rect(0, 0, max(w + 16, 34), h + 10), lines, n.place, n.key)
    widest: dict[object, float] = {}  # one width per role: h(0) and h(9) look alike
    for n in in_step_nodes(in_step) + outside + after:
        widest[n.role] = max(widest.get(n.role, 0.0), items[n.key].rect.w)
    for n in in_step_nodes(in_step) + outside + after:
        items[n.key].rect.w = widest[n.role]
    # in style="full", a parameter used outside the steps (a readout after the loop) has no
    # step to rise into: there it keeps its textbook label
    pairs = {n.key: _pairs(desc, n) for n in drawn if n.kind == OP and (not full or n.place is None)}
    used = _params_by_step(desc, in_step, {n.key for n in shared}) if full else {}
    # room in the lower half of the first node of a row in a step (the others take their risers
    # from under) for each parameter's riser, their arrowheads apart
    for s, params in used.items():
        first: dict[int, Node] = {}
        for n in sorted(in_step[s], key=lambda n: rank[n.role]):
            first.setdefault(row[n.key], n)
        for n in first.values():
            if m := len({e.src for e in desc.incoming(n.key)} & set(params)):
                items[n.key].rect.h = max(items[n.key].rect.h, 2 * (5 + _RISER_ROOM * m))
    n_rows = max(row.values(), default=0) + 1
    height = [0.0] * n_rows
    for key, r in row.items():
        height[r] = max(height[r], items[key].rect.h)
    ys, y = [0.0] * n_rows, 0.0
    for r in range(n_rows - 1, -1, -1):  # row 0 at the bottom
        ys[r] = y + height[r] / 2
        y += height[r] + row_gap
    for key, r in row.items():
        items[key].rect.cy = ys[r]
    top = -PAD - TITLE  # the frame's title at its top left
    stub_room = not full and any(row.get(n.key) == 0 and _has_stub(desc, n, pairs) for n in drawn)
    bottom = ys[0] + height[0] / 2 + PAD + (32 if stub_room else 0)
    label_w = _label_width(desc, drawn)
    lines_out: list[Line] = []
    frames: dict[int, Item] = {}
    x = 0.0
    if outside:
        x = _place_row_nodes([n for n in outside], row, items, x, None) + COLUMN_GAP
    if None in in_step:
        x = _place_row_nodes(in_step[None], row, items, x + label_w + 14, label_w, node_gap)  # type: ignore[index]
    head = desc.shown
    lane_start: dict[int, float] = {}
    right_lanes = False
    shared_keys = {n.key for n in shared}
    elision_at = next((i for i in range(1, len(desc.shown)) if _gap(desc, desc.shown[i - 1], desc.shown[i])), None)
    for i, s in enumerate(head):
        if i == elision_at:
            items["elided"] = Item("elided", "elision", Rect(x + 45, 0, 90, 24), [f"… {desc.elided} steps …"],
                                   font=TITLE_FONT)  # fmt: skip
            x += 90 + COLUMN_GAP
        if full:  # one rising line per parameter the step uses
            risers = _RISER_GAP * len(used.get(s, [])) + (8.0 if used.get(s) else 0.0)
            lane_start[s] = risers  # the lines bent down the lane run right of the risers
            lane = 8.0 + risers + 5.0 * _entering(desc, in_step[s], shared_keys)
        else:
            lane = label_w + 14 + lane_extra if _has_incoming_label(desc, in_step[s], pairs, closing=closing) else 8.0
        left = x
        x = _place_row_nodes(sorted(in_step[s], key=lambda n: rank[n.role]), row, items, x + lane, label_w, node_gap)
        if full:  # a track on the right for each line from the next step (h_reverse)
            x += 5.0 * _entering(desc, in_step[s], shared_keys, closing)
        elif _has_incoming_label(desc, in_step[s], pairs, later=True, closing=closing):
            x += label_w + 6 + right_extra  # a lane on the right too, for the labels of lines from the next step
            right_lanes = True
        frame = Item(f"frame_t{s}", "frame", Rect((left + x + PAD) / 2, (top + bottom) / 2, x + PAD - left,
                     bottom - top), [_title(desc, s, in_step[s])], step=s, font=TITLE_FONT)  # fmt: skip
        frames[s] = frame
        items[frame.id] = frame
        items[f"title_t{s}"] = Item(f"title_t{s}", "title", title_rect(frame), frame.lines, s, font=TITLE_FONT)
        x += PAD + COLUMN_GAP
    if after:
        _place_row_nodes(after, row, items, x + (label_w + 14 if not full else 8.0), label_w, node_gap)
    marks = _marks(desc, items, row, ys) if "elided" in items else {}
    layout = Layout(items, lines_out, frames, [], track=TWIN_TRACK if twins else 5.0,
                    pitch=TWIN_TRACK if twins else 4.0, lane_start=lane_start, labelled=not full,
                    marks=marks, right_lanes=right_lanes)  # fmt: skip
    if full:  # shared inputs run under the steps like the parameters
        _parameter_buses(layout, desc, used, bottom, backward, values)
    else:
        _buses(layout, desc, shared, bottom)
    stubs = _lines(layout, desc, pairs, {n.key for n in shared}, full)
    if desc.cost:
        _cost(layout, desc, backward, values, top)
    _part_ends(layout)
    if twins:
        _forward_twins(layout)
    names = param_names(desc)
    pieces = _pieces_grid(layout)
    for e in stubs:  # last: a stub finds room clear of every other line
        _stub(layout, desc, e, names, pieces)
        line = layout.lines[-1]
        for seg in layout.segments(line):
            pieces.add(segment_box(seg), (line, seg))
    _labels(layout, desc, pairs, backward)
    return layout


_RISER_GAP = 12.0  # between the rising lines of a step's parameters (style="full")
_RISER_ROOM = 6.0  # between the heights at which they come into a node's side: their arrowheads apart


def _params_by_step(desc: Description, in_step: dict[int, list[Node]], shared: set[str]) -> dict[int, list[str]]:
    """Per drawn step, the parameters (and inputs several steps share) its tensors read, in
    order of first use."""
    out: dict[int, list[str]] = {}
    for s, nodes in in_step.items():
        for n in nodes:
            for e in desc.incoming(n.key):
                if desc.node(e.src).kind == PARAMETER or e.src in shared:
                    _add_once(out.setdefault(s, []), e.src)
    return out


def _parameter_buses(layout: Layout, desc: Description, used: dict[int, list[str]], bottom: float, backward: bool,
                     values: bool) -> None:  # fmt: skip
    """``style="full"``: each parameter once, left of and under the steps, with its line running
    under the frames. Under each step that uses it a junction; from there a line rises in the
    step's lane and turns into each tensor that reads the parameter. The step's share sits just
    above the junction, right of it: the deeper a parameter's line, the further left it rises,
    so no rising line crosses a share's label."""
    items = layout.items
    order: list[str] = []
    for s in sorted(used):
        for p in used[s]:
            _add_once(order, p)
    depth = {p: i for i, p in enumerate(order)}
    left = min((f.rect.left for f in layout.frames.values()), default=0.0)
    full_names, step_names = param_names(desc, qualified=True), param_names(desc)
    boxes: dict[str, tuple[list[str], float, float]] = {}
    for p in order:
        n = desc.node(p)
        if p in items:  # an input several steps read: drawn as it is, on its line like a parameter
            boxes[p] = (items[p].lines, items[p].rect.w, items[p].rect.h)
            continue
        lines = parameter_lines(n, desc, backward, values, full_names[p])
        w = text.box(lines + parameter_lines(n, desc, not backward, values, full_names[p]), NODE_FONT)[0]  # both views
        boxes[p] = (lines, w + 16, text.box(lines, NODE_FONT)[1] + 10)
    gap = max((b[2] for b in boxes.values()), default=0.0) + 6  # the boxes stack, each on its own line
    for p, (lines, w, h) in boxes.items():
        y = bottom + 10 + gap * (depth[p] + 0.5)
        kind = "parameter" if desc.node(p).kind == PARAMETER else "tensor"
        items[p] = Item(p, kind, Rect(left - COLUMN_GAP - w / 2, y, w, h), lines, key=p)
    under: dict[tuple[int, float], list[str]] = {}  # (step, row): the parameters that come in from under
    lows: dict[tuple[int | None, float], float] = {}  # (step, row): the bottom of its lowest node
    for it in items.values():
        if it.kind == "tensor":
            at = (it.step, round(it.rect.cy, 1))
            lows[at] = max(lows.get(at, -math.inf), it.rect.bottom)
    for p in order:
        prev, y = p, items[p].rect.cy
        for s in sorted(used):
            if p not in used[s]:
                continue
            k = sorted(used[s], key=depth.__getitem__).index(p)  # the deeper its line, the further left it rises
            x = layout.frames[s].rect.left + 8 + _RISER_GAP * (len(used[s]) - 1 - k)
            junction = f"bus_{p}_t{s}"
            items[junction] = Item(junction, "point", Rect(x, y, 0, 0), step=s)
            layout.lines.append(Line([prev, junction], "bus", param=p if desc.node(p).kind == PARAMETER else None))
            prev = junction
            share = desc.contributions.get((p, s))
            is_param = desc.node(p).kind == PARAMETER
            name = step_names[p] if is_param else short_name(desc.node(p))
            label = [f"‖∂L/∂{name}({s})‖ = {fmt(share)}"] if backward and is_param else [name]
            lw, lh = text.box(label, LABEL_FONT)
            items[f"label_t{s}_{p}"] = Item(f"label_t{s}_{p}", "label", Rect(x + 4 + lw / 2, y - 2 - lh / 2, lw, lh),
                                            label, s, key=p, font=LABEL_FONT)  # fmt: skip
            readers = [e for n in layout_nodes_of_step(layout, s) for e in desc.incoming(n) if e.src == p]
            rises: list[tuple[float, list[str], Edge]] = []
            for e in readers:
                node = items[e.dst].rect
                bend = f"bend_{p}_{e.dst}_{e.index}"
                # each parameter the node reads at its own height (j), all within the node's lower half
                mine = [q for q in used[s] if any(o.src == q for o in desc.incoming(e.dst))]
                j = mine.index(p)
                y_in = node.cy + (j + 1) * min(_RISER_ROOM, (node.h / 2 - 3) / len(mine)) if node.h > 24 else node.cy
                others = [it.rect for it in items.values() if it.kind == "tensor" and it.id != e.dst]
                end = f"{bend}_in"  # on the node's border: each riser comes in level (or upright) on its own
                if not any(r.crossed_by((x, y_in), (node.left, y_in)) for r in others):
                    items[bend] = Item(bend, "point", Rect(x, y_in, 0, 0), step=s)
                    items[end] = Item(end, "anchor", Rect(node.left, y_in, 0, 0), step=s)
                    ids = [bend, end]
                else:  # another node of the row is in the way: come in from under the node, each
                    row = under.setdefault((s, round(node.cy, 1)), [])  # parameter of the row at a depth of
                    _add_once(row, p)  # its own, under the row's lowest node (style="full" makes some taller)
                    y_under = lows[(s, round(node.cy, 1))] + 8 + 4 * row.index(p)
                    items[bend] = Item(bend, "point", Rect(x, y_under, 0, 0), step=s)
                    corner = f"{bend}_under"
                    items[corner] = Item(corner, "point", Rect(node.left + 10 + 8 * j, y_under, 0, 0), step=s)
                    items[end] = Item(end, "anchor", Rect(node.left + 10 + 8 * j, node.bottom, 0, 0), step=s)
                    ids = [bend, corner, end]
                rises.append((items[bend].rect.cy, ids, e))
            # a parameter (or shared input) read by several tensors of the step: one riser, each
            # reader's line leaving it where the one below ends, not on top of it; readers of one
            # row coming in from under it share the level run under the row, each going on from
            # the corner of the one before (an LSTM's x into its four gates)
            start, run = junction, None
            for height, ids, e in sorted(rises, key=lambda r: (-r[0], items[r[1][-2]].rect.cx)):
                if len(ids) == 3 and run is not None and abs(height - run[0]) < 0.5:
                    layout.lines.append(Line([run[1], *ids[1:]], "riser", e, param=p, share=share))
                else:
                    layout.lines.append(Line([start, *ids], "riser", e, param=p, share=share))
                    start = ids[0]
                run = (height, ids[1]) if len(ids) == 3 else None


def parameter_lines(n: Node, desc: Description, backward: bool, values: bool, name: str) -> list[str]:
    """A parameter's box (style="full"): its ``name``, shape, and its total gradient ‖∂L/∂W‖
    (backward) or the norm of its values (forward)."""
    note = desc.note(n.key)
    norm = f"‖∂L/∂{name}‖ = {fmt(desc.totals.get(n.key))}{note}" if backward else f"‖{name}‖ = {fmt(n.norm)}"
    return [name, shape_text(n.shape), norm] + ([n.value] if values else [])


def layout_nodes_of_step(layout: Layout, step: int) -> list[str]:
    return [it.id for it in layout.items.values() if it.kind == "tensor" and it.step == step]


def _target_of_the_cost(desc: Description, n: Node) -> bool:
    """An input that only the folded cost reads (the labels y(t) of each step's loss): part of
    the one cost node, as in Géron's figure. (Kept per step with ``fold_cost="steps"``, where
    y(t) -> L(t) is drawn as in Goodfellow's, and in the rolled view.)"""
    out = desc.outgoing(n.key)
    return n.kind in (INPUT, CONSTANT) and bool(out) and all(desc.node(e.dst).kind == COST for e in out)


def _reading_steps(desc: Description, n: Node, shown: set[int]) -> set[int]:
    return {desc.node(e.dst).place for e in desc.outgoing(n.key)} & shown  # type: ignore[operator]


def _has_stub(desc: Description, n: Node, pairs: dict[str, dict[int, list[str]]]) -> bool:
    """Whether a parameter acts on ``n`` alone (a bias), drawn as a stub under it."""
    paired = {p for ps in pairs.get(n.key, {}).values() for p in ps}
    return any(desc.node(e.src).kind == PARAMETER and e.src not in paired for e in desc.incoming(n.key))


def _buses(layout: Layout, desc: Description, shared: list[Node], bottom: float) -> None:
    """Each input that several steps read, drawn once under the frames at the left, with a
    line running under the steps and rising into each step that reads it (Goodfellow fig. 10.9):
    straight up into the reader, or, where a tensor under the reader is in the way (a GRU's z(t)
    above its r(t)), up a track of the step's lane and in level from the left."""
    items = layout.items
    y = bottom + 16
    others = [it.rect for it in items.values() if it.kind == "tensor"]
    for n in shared:
        it = items[n.key]
        it.rect.cx = min(f.rect.left for f in layout.frames.values()) - COLUMN_GAP - it.rect.w / 2
        it.rect.cy = y + it.rect.h / 2
        rises: list[tuple[float, str, list[str], Edge]] = []
        for e in desc.outgoing(n.key):
            reader = items.get(e.dst)
            if reader is None or reader.kind != "tensor":
                continue
            b = reader.rect
            junction = f"bus_{n.key}_{e.dst}_{e.index}"
            at, ids = b.cx, [junction, e.dst]
            unused = f"bend_{n.key}_{e.dst}_a" not in items  # (a tensor reading x twice: its second line straight)
            if unused and any(r is not b and r.crossed_by((b.cx, it.rect.cy), (b.cx, b.cy)) for r in others):
                x = _lane(layout, reader.step, right=False)
                if not any(r is not b and r.crossed_by((x, b.cy), (b.cx, b.cy)) for r in others):
                    junction = f"bend_{n.key}_{e.dst}_a"  # a track of the lane, as a bent line's
                    bend = f"bend_{n.key}_{e.dst}_b"
                    items[bend] = Item(bend, "point", Rect(x, b.cy, 0, 0), step=reader.step)
                    at, ids = x, [junction, bend, e.dst]
            items[junction] = Item(junction, "point", Rect(at, it.rect.cy, 0, 0), step=reader.step)
            rises.append((at, junction, ids, e))
        prev = n.key
        for _, junction, ids, e in sorted(rises, key=lambda r: r[0]):  # the bus runs left to right
            layout.lines.append(Line([prev, junction], "bus", e))
            layout.lines.append(Line(ids, "data", e))
            prev = junction
        y += it.rect.h + 12


def _title(desc: Description, step: int, nodes: list[Node]) -> str:
    """``t = k``, and the module whose parameters the step uses when they all have one."""
    modules = {
        (desc.node(e.src).name or "").rpartition(".")[0]
        for n in nodes
        for e in desc.incoming(n.key)
        if desc.node(e.src).kind == PARAMETER
    }
    return f"t = {step} · {modules.pop()}" if len(modules) == 1 and "" not in modules else f"t = {step}"


def in_step_nodes(in_step: dict[int, list[Node]]) -> list[Node]:
    return [n for nodes in in_step.values() for n in nodes]


def _gap(desc: Description, a: int, b: int) -> bool:
    """Whether recorded steps lie between the drawn steps a and b (the elision goes there)."""
    return desc.elided > 0 and desc.steps.index(b) - desc.steps.index(a) > 1


def _label_width(desc: Description, drawn: list[Node]) -> float:
    """The widest parameter label any line can carry, in either view (a frame's lane is that wide)."""
    widest = 30.0
    names = param_names(desc)
    for n in drawn:
        if n.kind == PARAMETER:
            step = max(desc.shown, default=None)
            lines = share_lines(n, step, 1.0, True, names[n.key]) + share_lines(n, None, None, False, names[n.key])
            widest = max(widest, text.box(lines, LABEL_FONT)[0])
    for split in desc.splits.values():
        widest = max(widest, text.box(split_lines(split), LABEL_FONT)[0])
    return widest


def _entering(desc: Description, nodes: list[Node], shared: set[str], closing: set[str] | None = None) -> int:
    """How many lines come into ``nodes`` from outside their step (other than parameters' and
    shared inputs'): each may need a track of the step's lane. With ``closing`` (the initial
    states after the last step), only those from the right: a later step or such a state."""
    here = {n.key for n in nodes}
    return sum(1 for n in nodes for e in desc.incoming(n.key)
               if e.src not in here and e.src not in shared and desc.node(e.src).kind != PARAMETER
               and (closing is None or _from_the_right(desc, e.src, n, closing)))  # fmt: skip


def _from_the_right(desc: Description, src: str, n: Node, closing: set[str]) -> bool:
    """Whether a line from ``src`` into ``n`` comes from the right: from a later step, or from
    an initial state in ``closing`` (a backward direction's, drawn after the last step)."""
    place = desc.node(src).place
    return src in closing or (place is not None and n.place is not None and place > n.place)


def _has_incoming_label(desc: Description, nodes: list[Node], pairs: dict[str, dict[int, list[str]]],
                        later: bool = False, closing: set[str] = frozenset()) -> bool:  # type: ignore[assignment]
    """Whether a labelled line enters one of ``nodes`` from outside their step (h(t-1) -W-> h(t));
    ``later``: from the right, a later step or an initial state in ``closing`` (a backward
    direction's h_reverse(t+1) -W-> h_reverse(t))."""
    here = {n.key for n in nodes}
    for n in nodes:
        for e in desc.incoming(n.key):
            if e.src not in here and e.index in pairs.get(n.key, {}):
                if later == _from_the_right(desc, e.src, n, closing):
                    return True
    return False


def _from_the_end(desc: Description, n: Node) -> bool:
    """Whether initial state ``n`` starts a backward direction: only the last drawn step reads
    it (and that is not the first: a decoder's first input, read by a middle step, is not)."""
    steps = {desc.node(e.dst).place for e in desc.outgoing(n.key)}
    return steps == {desc.shown[-1]} and len(desc.shown) > 1


def _place_row_nodes(nodes: list[Node], row: dict[str, int], items: dict[str, Item], x0: float, label_w: float | None,
                     gap: float = NODE_GAP) -> float:  # fmt: skip
    """Put ``nodes`` (one column) in their rows, each row centred in the column; the right edge."""
    by_row: dict[int, list[Node]] = {}
    for n in nodes:
        by_row.setdefault(row[n.key], []).append(n)
    widths = {r: sum(items[n.key].rect.w for n in ns) + gap * (len(ns) - 1) for r, ns in by_row.items()}
    block = max(widths.values(), default=0.0)
    if label_w is not None:  # room for a vertical line's label right of the column's centre
        block = max(block, 2 * (label_w + 6 - PAD))
    for r, ns in by_row.items():
        x = x0 + (block - widths[r]) / 2
        for n in ns:
            it = items[n.key]
            it.rect.cx = x + it.rect.w / 2
            x += it.rect.w + gap
    return x0 + block


def _marks(desc: Description, items: dict[str, Item], row: dict[str, int], ys: list[float]) -> dict[str, str]:
    """The elision's marks: one in each row that a line into or out of the elided steps
    leaves from, at the height of the tensor it stands for (h(t) of the last drawn step into
    the mark of h's row, and out of it as h(t') into the next drawn step), so that each
    recurrence crosses the gap in its own row (level, where no node is in the way) instead of
    every line converging on one point. The row most lines use gets the "… k steps …" text
    (``items["elided"]``), the others a "⋯". Returns, per source of such a line, its mark's id."""
    where = {n.role: row[n.key] for n in desc.nodes if n.drawn and n.key in row}
    rows: dict[str, int] = {}
    count: dict[int, int] = {}
    for e in desc.edges:
        s, d = desc.node(e.src), desc.node(e.dst)
        if s.kind != PARAMETER and s.drawn != d.drawn and (e.src if s.drawn else e.dst) in row:
            r = rows.setdefault(e.src, row[e.src] if s.drawn else where.get(s.role, row[e.dst]))
            count[r] = count.get(r, 0) + 1
    label = items["elided"]
    if not count:  # nothing crosses (every line of the gap is a parameter's): the text alone
        label.rect.cy = ys[len(ys) // 2]
        return {}
    main = max(count, key=lambda r: (count[r], -r))
    label.rect.cy = ys[main]
    ids = {main: "elided"}
    for r in sorted(count):
        if r != main:
            ids[r] = f"elided{r}"  # (not "elided_...": the names of lines out of "elided" start so)
            w = text.width("⋯", TITLE_FONT)
            items[ids[r]] = Item(ids[r], "elision", Rect(label.rect.cx, ys[r], w + 8, label.rect.h), ["⋯"],
                                 font=TITLE_FONT)  # fmt: skip
    return {key: ids[r] for key, r in rows.items()}


def _lines(layout: Layout, desc: Description, pairs: dict[str, dict[int, list[str]]], shared: set[str],
           full: bool = False) -> list[Edge]:  # fmt: skip
    """Every recorded edge between drawn tensors (parameters' edges become labels or stubs),
    straight where that crosses no node, else bent through the receiving step's lane."""
    items = layout.items
    layout.blocks = Grid((rect_box(r), (k, r)) for k, r in _in_the_way(layout))
    stubs: list[Edge] = []
    into_elision: set[str] = set()
    out_of_elision: set[str] = set()
    bundled = {e for edges in _bundles(layout, desc, shared) if _trunk(layout, desc, edges) for e in edges}
    for e in desc.edges:
        s, d = desc.node(e.src), desc.node(e.dst)
        if d.kind == COST or s.kind == COST or e.src in shared or e in bundled:
            continue  # the cost's risers are drawn with the cost node, the shared inputs' with their line
        if s.kind == PARAMETER:
            outside = not full or d.place is None
            if outside and d.drawn and d.key in items and not any(e.src in ps for ps in pairs.get(d.key, {}).values()):
                stubs.append(e)
            continue
        if s.drawn and d.drawn and e.src in items and e.dst in items:
            layout.lines.append(Line(_route(layout, e.src, e.dst, d.place, _level_in(layout, desc, e)), "data", e))
        elif e.src in layout.marks and s.drawn and e.src in items and not d.drawn and e.src not in into_elision:
            # level into the mark of its row; where a node is in the way, the way a line from
            # the mark into it would go, the other way round
            into_elision.add(e.src)
            layout.lines.append(_into_mark(layout, e, s.place))
        elif e.src in layout.marks and d.drawn and e.dst in items and not s.drawn:
            # one line per receiving input, so that the parameter acting on it keeps its label
            if (e.dst, e.index) not in out_of_elision:
                out_of_elision.add((e.dst, e.index))  # type: ignore[arg-type]
                level = _level_in(layout, desc, e)
                layout.lines.append(Line(_route(layout, layout.marks[e.src], e.dst, d.place, level), "elision", e))
    layout.blocks = None
    return stubs


def _level_in(layout: Layout, desc: Description, e: Edge) -> bool:
    """Whether another input of ``e.dst`` comes in level from its left: h(t-1) into h(t), or the
    elision's mark in h's row (then ``e``'s line, if bent, comes in above it)."""
    items = layout.items
    b = items[e.dst].rect
    for o in desc.incoming(e.dst):
        at = o.src if o.src in items else layout.marks.get(o.src)
        if o.src != e.src and at is not None and abs(items[at].rect.cy - b.cy) < 1 and items[at].rect.cx < b.cx:
            return True
    return False


def _into_mark(layout: Layout, e: Edge, step: int | None) -> Line:
    """The line from a drawn tensor into the elision's mark of its row: level, beside the lines
    already level at the tensor on that side (a bent line coming into h_reverse(t) level from
    the left, where h_reverse(t) feeds the elided steps on the left); where a node is in the
    way, the way a line from the mark into the tensor would go, the other way round."""
    items = layout.items
    src, mark = e.src, layout.marks[e.src]
    a, b = items[src].rect, items[mark].rect
    if _crosses(layout, [((a.cx, a.cy), (b.cx, b.cy))], (src, mark)):
        return Line(_route(layout, mark, src, step)[::-1], "elision", e)
    x0, x1 = (a.right, b.left) if b.cx > a.cx else (a.left, b.right)
    pieces = [seg for line in layout.lines for seg in layout.segments(line)]
    room = min(a.h, b.h) / 2 - 3
    for d in [0.0] + [k * 3.0 * sign for k in range(int(room / 3), 0, -1) for sign in (-1, 1)]:  # far apart first
        p, q = (x0, a.cy + d), (x1, a.cy + d)
        if not any(overlap(p, q, *seg) >= 4 for seg in pieces):
            break
    else:
        d = 0.0  # no height is clear: level with the tensor's middle, as the others
    line = Line([src, mark], "elision", e)
    if d:
        for end, x in ((0, x0), (-1, x1)):
            line.ports[end] = f"mark_{src}_{end}"
            items[line.ports[end]] = Item(line.ports[end], "anchor", Rect(x, a.cy + d, 0, 0), step=step)
    return line


def _bundles(layout: Layout, desc: Description, shared: set[str]) -> list[list[Edge]]:
    """The lines from one tensor to several tensors of one row of a step, coming from outside
    the step (h(t-1) into an LSTM's four gates) or from inside it round another row's tensors
    (x(t) into the forward direction's gates, past the backward direction's band): each such
    group is drawn as one trunk (``_trunk``). In style="full" only the former: the latter
    carry no labels there, and the parameters' rising lines take the room under the row."""
    items = layout.items
    groups: dict[tuple[str, int, float], list[Edge]] = {}
    blocked: set[tuple[str, int, float]] = set()
    for e in desc.edges:
        s, d = desc.node(e.src), desc.node(e.dst)
        if (s.kind in (PARAMETER, COST) or d.kind == COST or e.src in shared or d.place is None
                or e.dst not in items or not d.drawn):
            continue  # fmt: skip
        if e.src in items or e.src in layout.marks:  # from a drawn tensor, or out of the elision
            key = (e.src, d.place, round(items[e.dst].rect.cy, 1))
            groups.setdefault(key, []).append(e)
            if s.place != d.place or (layout.labelled and _blocked(layout, e.src, e.dst)):
                blocked.add(key)
    return [edges for key, edges in groups.items() if key in blocked and len({e.dst for e in edges}) > 1]


def _blocked(layout: Layout, src: str, dst: str) -> bool:
    """Whether the straight line from ``src`` to ``dst`` would run through another tensor."""
    a, b = layout.items[src].rect, layout.items[dst].rect
    return _crosses(layout, [((a.cx, a.cy), (b.cx, b.cy))], (src, dst), ("tensor", "elision", "cost"))


#: what a trunk or a routed line goes round: the nodes, and style="full"'s parameter boxes
IN_THE_WAY = ("tensor", "elision", "cost", "parameter", "delay")
BRANCH = 30.0  # a trunk's bus runs this far over (or under) the row it feeds: room for a label beside each branch


def _trunk(layout: Layout, desc: Description, edges: list[Edge]) -> bool:
    """One line from ``edges``' common source along the receiving step's lane (the right lane
    for a source right of the frame: a later step) to a bus over their row, under it when the
    source is below the row, and from the bus a short branch down (or up) into each receiving
    tensor (each branch is the edge's own line: it carries its parameter's label). The trunk
    and each piece of the bus carry the sum of the gradients of the branches beyond them.
    False (nothing drawn) where the trunk would cross a tensor: the lines are then routed one
    by one."""
    items = layout.items
    src, step = edges[0].src, desc.node(edges[0].dst).place
    start = src if src in items else layout.marks[src]  # of an elided step: out of the elision's mark in its row
    a = items[start].rect
    frame = layout.frames[step]  # type: ignore[index]
    right = a.cx > frame.rect.right  # from a later step (a backward direction): down the lane on the right
    tracks = _tracks(layout, step, right)
    lane_x = _lane(layout, step, right)
    sign = -1 if right else 1  # the way the bus runs from the lane
    ends = sorted(edges, key=lambda e: (sign * items[e.dst].rect.cx, e.index))
    below = a.top > max(items[e.dst].rect.bottom for e in ends)  # a source under the row: the bus under it too
    if below:
        y = max(items[e.dst].rect.bottom for e in ends) + BRANCH + 4 * tracks
    else:
        y = min(items[e.dst].rect.top for e in ends) - BRANCH - 4 * tracks
    # a trunk already leaving the source level into this step (a GRU's z row and r row): beside it
    side_x = a.right if lane_x > a.cx else a.left
    # (out of an elision's mark: the trunks of every source it stands for)
    tag = src if start == src else f"{start}_{src}"
    n = sum(1 for k, it in items.items() if k.startswith(f"trunk_{start}_") and f"_t{step}_y" in k
            and k.endswith("_a") and abs(it.rect.cy - a.cy) < a.h / 2)  # fmt: skip
    # or a straight line already leaving it level that way (a padded run's carried h(t) into h(t+1))
    n += sum(1 for line in layout.lines if len(line.ids) == 2 and line.ids[0] == start and line.ids[1] in items
             and abs(items[line.ids[1]].rect.cy - a.cy) < 1
             and (items[line.ids[1]].rect.cx - a.cx) * (lane_x - a.cx) > 0)  # fmt: skip
    if n:
        y0 = a.cy + _level_offset(layout, a, side_x, n, _busy(layout, min(side_x, lane_x), max(side_x, lane_x)))
    else:
        y0 = a.cy
    legs = [((a.cx, y0), (lane_x, y0)), ((lane_x, y0), (lane_x, y)),
            ((lane_x, y), (items[ends[-1].dst].rect.cx, y))]  # fmt: skip
    under = None
    if _crosses(layout, legs, (start,)):
        if start != src or y0 != a.cy:
            return False
        # the tensors of other steps in the way (a decoder's first input, left of the encoder's
        # steps, into its gates): down under the source and along the gap under its row
        busy = _busy(layout, min(a.cx, lane_x), max(a.cx, lane_x)) + _frame_edges(layout, a.cx, lane_x)
        under = _free_height(a.bottom + 12 + 4 * tracks, busy, layout.pitch)
        legs = [((a.cx, a.cy), (a.cx, under)), ((a.cx, under), (lane_x, under)), ((lane_x, under), (lane_x, y)),
                ((lane_x, y), (items[ends[-1].dst].rect.cx, y))]  # fmt: skip
        if _crosses(layout, legs, (start,)):
            return False
        y0 = under
    name = f"trunk_{tag}_t{step}_y{round(items[ends[0].dst].rect.cy)}"  # one per row the source feeds
    items[f"{name}_a"] = Item(f"{name}_a", "point", Rect(lane_x, y0, 0, 0), step=step)
    items[f"{name}_b"] = Item(f"{name}_b", "point", Rect(lane_x, y, 0, 0), step=step)
    role = "trunk" if start == src else "elision"
    if under is not None:
        # straight down out of the source's bottom, beside the trunks already going down out of it
        # (a padded VecToSeq(gru)'s x(t) into two rows of gates: both went down one x)
        k = sum(1 for key, it in items.items() if key.startswith(f"trunk_{src}_") and key.endswith("_out")
                and abs(it.rect.cy - a.bottom) < 0.5)  # fmt: skip
        # on the side away from where it turns: a later trunk goes further down, so its level piece
        # passes under the earlier ones' and never crosses their downward pieces
        x = a.cx - math.copysign(min(8.0 * k, a.w / 2 - 4), lane_x - a.cx)
        items[f"{name}_u"] = Item(f"{name}_u", "point", Rect(x, under, 0, 0), step=step)
        start = f"{name}_out"
        items[start] = Item(start, "anchor", Rect(x, a.bottom, 0, 0), step=step)
    elif y0 != a.cy:
        start = f"{name}_out"
        items[start] = Item(start, "anchor", Rect(side_x, y0, 0, 0), step=step)
    layout.lines.append(Line([start, *([f"{name}_u"] if under is not None else []), f"{name}_a", f"{name}_b"], role,
                             share=_sum_norm(desc, ends), carries=ends, trunk=name))  # fmt: skip
    prev, x_prev = f"{name}_b", lane_x
    # branches already into a tensor's side (another trunk's: a decoder's gates read h(t-1) and
    # o(t-1)) come in at their own places, as do two branches of this trunk into one tensor
    taken: dict[str, int] = {}
    for e in ends:
        b = items[e.dst].rect
        side = b.bottom if below else b.top
        taken.setdefault(e.dst, sum(1 for k, it in items.items() if k.startswith("trunk_") and k.endswith("_in")
                                    and b.left <= it.rect.cx <= b.right and it.rect.cy == side) - 1)
    for k, e in enumerate(ends):
        b = items[e.dst].rect
        n = taken[e.dst] = taken[e.dst] + 1
        # a second trunk's branch comes in beside the first one's, on the side a line out of the
        # tensor leaves it by (the first one's label then has the other side to itself)
        inward = n > 0 and _runs_inward(layout, desc, e.dst, b.cx - sign * b.w / 4, y, sign)
        x = b.cx - sign * (b.w / 4 + (-8 if inward else 8) * n)
        if sign * (x - x_prev) <= 1:
            x = x_prev + 6 * sign
        point = f"{name}_{k}"
        items[point] = Item(point, "point", Rect(x, y, 0, 0), step=step)
        layout.lines.append(Line([prev, point], "trunk", share=_sum_norm(desc, ends[k:]), carries=ends[k:], trunk=name))
        end = f"{point}_in"
        items[end] = Item(end, "anchor", Rect(x, b.bottom if below else b.top, 0, 0), step=step)
        layout.lines.append(Line([point, end], "data", e, trunk=name))
        prev, x_prev = point, x
    return True


def _runs_inward(layout: Layout, desc: Description, dst: str, x: float, bus: float, sign: int) -> bool:
    """Whether a line between ``dst`` and a tensor of its step on the bus's side (into it or out
    of it) runs, between the bus (at height ``bus``) and ``dst``'s border, past the branch at
    ``x`` on the way the bus runs (``sign``: toward the middle of ``dst``), where a label beside
    the branch would go."""
    items = layout.items
    b = items[dst].rect
    border = b.top if bus < b.cy else b.bottom
    y = (bus + border) / 2
    for e in desc.incoming(dst) + desc.outgoing(dst):
        o = items.get(e.src if e.dst == dst else e.dst)
        if o is None or o.kind != "tensor" or o.step != items[dst].step or (o.rect.cy - b.cy) * (bus - b.cy) <= 0:
            continue
        at = b.cx + (o.rect.cx - b.cx) * (y - b.cy) / (o.rect.cy - b.cy)  # the straight line, at the label's height
        if sign * (at - x) > 0:
            return True
    return False


def _tracks(layout: Layout, step: int | None, right: bool = False) -> int:
    """How many lines already come down the lane of ``step`` (each takes a track of its own),
    the lane on the frame's left or (``right``) on its right."""
    lanes = ("bend_", "trunk_")
    frame = layout.frames.get(step) if step is not None else None
    # between where the two lanes start (style="full": the left one after the parameters' risers)
    middle = (frame.rect.left + layout.lane_start.get(step, 0.0) + frame.rect.right) / 2 if frame else math.inf  # type: ignore[arg-type]
    return sum(1 for k, it in layout.items.items() if k.startswith(lanes) and k.endswith("_a") and it.step == step
               and (it.rect.cx > middle) == right)  # fmt: skip


def _lane(layout: Layout, step: int | None, right: bool) -> float:
    """The x of the next free track in the lane of ``step``'s frame, on its left or right."""
    frame = layout.frames[step]  # type: ignore[index]
    tracks = _tracks(layout, step, right)
    if right:
        return frame.rect.right - 5 - layout.track * tracks
    return frame.rect.left + 5 + layout.lane_start.get(step, 0.0) + layout.track * tracks  # type: ignore[arg-type]


def _sum_norm(desc: Description, edges: list[Edge]) -> float | None:
    """The norm of what ``edges`` carried back together (None if none of them carried any)."""
    grads = [desc.carried[k] for e in edges if (k := (e.src, e.dst, e.index)) in desc.carried]
    if not grads:
        return None
    total = np.sum(np.stack(grads), axis=0)
    return float(np.sqrt(np.sum(np.square(total, dtype=np.float64))))


def _in_the_way(layout: Layout, box: Box | None = None) -> list[tuple[str, Rect]]:
    """(id, box) of what a routed line goes round (``IN_THE_WAY``), near ``box`` if given: from
    ``layout.blocks`` while ``_lines`` routes (nothing in the way moves or is added then). A
    delay square with room round it: a line turning by it would read as going through it."""
    if layout.blocks is not None:
        return layout.blocks.near(box) if box is not None else layout.blocks.all()
    return [(it.id, Rect(it.rect.cx, it.rect.cy, it.rect.w + 16, it.rect.h + 16) if it.kind == "delay" else it.rect)
            for it in layout.items.values() if it.kind in IN_THE_WAY]  # fmt: skip


def _crosses(layout: Layout, pieces: Iterable[tuple[tuple[float, float], tuple[float, float]]], own: Iterable[str],
             kinds: tuple[str, ...] = IN_THE_WAY) -> bool:  # fmt: skip
    """Whether one of ``pieces`` runs through something in the way (``_in_the_way``, of
    ``kinds``) but the items ``own`` (the line's ends)."""
    own = set(own)
    return any(r.crossed_by(p, q) for p, q in pieces for k, r in _in_the_way(layout, segment_box((p, q)))
               if k not in own and layout.items[k].kind in kinds)  # fmt: skip


def _route(layout: Layout, src: str, dst: str, step: int | None, level: bool = False) -> list[str]:
    """Straight from ``src`` to ``dst`` if no node is in the way; else the first clear of these:

    - down a track of its own in the lane of ``dst``'s frame (the right lane for a source right
      of the frame: a later step, a backward direction's initial state) and in level
      (``level``: another line comes into ``dst`` level, so this one comes in above it);
    - with ``layout.labelled``, from under ``dst`` in its own step: up the lane and into ``dst``
      from below, far enough under it for a label;
    - through the gap under or over ``dst``'s row (or under ``src``), at a height no line
      across that gap has, and straight up or down into ``dst``'s border (an anchor ``_in``,
      beside one already there);
    - from beside the frames (a decoder's go): down out of ``src``, along the gap under its row
      and up the lane, or up out of it and over its row;
    - where none of those is clear, the same ways at a free height inside the gap itself; and
      where still none is, the one through the fewest nodes (style="full"'s parameter boxes
      count as nodes).

    A route leaving ``src`` beside lines that already leave it the same way starts beside them
    (an anchor ``_out``). Returns the ids of the line's points, adding the bends to the items."""
    items = layout.items
    a, b = items[src].rect, items[dst].rect
    others = [r for k, r in _in_the_way(layout) if k not in (src, dst)]
    # a line already leaving ``dst`` level (a trunk out of h_reverse(t)): come in above it
    level = level or any(k.startswith((f"trunk_{dst}_", f"bend_{dst}_")) and k.endswith("_a")
                         and abs(it.rect.cy - b.cy) < 1 for k, it in items.items())  # fmt: skip
    # or a bent line already coming into it level (h(t-1) down the lane and in, then h0 of a padded run)
    level = level or bool(_bends_in_level(items, dst))

    def clear(points: list[tuple[float, float]]) -> bool:  # (without a grid: ``others``, made once)
        pieces = zip(points, points[1:], strict=False)
        if layout.blocks is None:
            return not any(r.crossed_by(p, q) for p, q in pieces for r in others)
        return not _crosses(layout, pieces, (src, dst))

    if clear([(a.cx, a.cy), (b.cx, b.cy)]):
        toward = b.cx - a.cx
        if abs(a.cy - b.cy) < 1 and any(k.startswith(f"trunk_{src}_") and k.endswith("_a")
                                        and abs(it.rect.cy - a.cy) < 1 and (it.rect.cx - a.cx) * toward > 0
                                        for k, it in items.items()):  # fmt: skip
            # level, where a trunk already leaves ``src`` level that way (a padded run's carried
            # h(t) into h(t+1), beside h(t)'s trunk into step t+1's gates): beside it, not on it
            y = a.cy + _level_offset(layout, a, a.right if toward > 0 else a.left, 1)
            ends = [(f"bend_{src}_{dst}_out", a.right if toward > 0 else a.left),
                    (f"bend_{src}_{dst}_in", b.left if toward > 0 else b.right)]
            for name, x in ends:
                items[name] = Item(name, "anchor", Rect(x, y, 0, 0), step=step)
            return [name for name, _ in ends]
        return [src, dst]
    # bends on a track of its own in the receiving step's lane (no two lines share a track), or
    # else round the nodes through the gap under (or over) the receiving node's row
    frame = layout.frames.get(step) if step is not None else None
    right = frame is not None and a.cx > frame.rect.right  # from a later step: the lane on the right
    tracks = _tracks(layout, step, right)
    if frame is not None:
        lane_x = _lane(layout, step, right)
    else:
        lane_x = min(a.left, b.left) - 10 - layout.track * tracks
    side = b.w / 4 if right else -b.w / 4  # where the line comes into ``dst`` from above or below
    # beside, toward the middle, a line already coming in there (from under the row of a padded
    # run's h_l1(t): h0's line and the carried state's)
    taken = [it.rect.cx for it in items.values() if it.kind == "anchor" and b.left <= it.rect.cx <= b.right
             and min(abs(it.rect.cy - b.top), abs(it.rect.cy - b.bottom)) < 1]  # fmt: skip
    sides = [side - math.copysign(10 * k, side) for k in range(int(abs(side) / 10))] + [-side]
    side = next((d for d in sides if not any(abs(b.cx + d - x) < 3 for x in taken)), side)
    routes = [[(lane_x, a.cy), (lane_x, b.cy - (b.h / 4 if level else 0.0))]]
    # the bends of lines already drawn across the gap (style="full"'s risers under a row): a
    # line through the gap runs at a height of its own
    busy = _busy(layout, min(lane_x, a.cx, b.cx + side), max(lane_x, a.cx, b.cx + side))
    for y in (b.bottom + 12 + 4 * tracks, b.top - 12 - 4 * tracks, a.bottom + 12 + 4 * tracks):
        y = _free_height(y, busy, 4 if y > b.cy else -4)
        routes.append([(a.cx, y), (b.cx + side, y)])
        routes.append([(lane_x, a.cy), (lane_x, y), (b.cx + side, y)])
    if frame is not None and (a.left > frame.rect.right if right else a.right < frame.rect.left):
        # from beside the frame with other tensors in the way (a decoder's first input, left of
        # the encoder's steps; a backward direction's h0 right of the last step): down out of it,
        # along the gap under its row, up the lane and in level, as h(t-1) comes in
        y = _free_height(a.bottom + 12 + 4 * tracks, busy + _frame_edges(layout, a.cx, lane_x), layout.pitch)
        routes.insert(1, [(a.cx, y), (lane_x, y), (lane_x, b.cy)])
        # or, where that is in the way too (style="full"'s parameter boxes under it), up out of
        # it and along the gap over its row
        y = _in_gap(others, a.top, False, min(a.cx, lane_x), max(a.cx, lane_x),
                    busy + _frame_edges(layout, a.cx, lane_x))  # fmt: skip
        if y is not None:
            routes += [[(a.cx, y), (lane_x, y), (lane_x, b.cy)], [(a.cx, y), (b.cx + side, y)]]
    if layout.labelled and items[src].step == step and a.top > b.bottom:
        # from under it in its own step: up into it from below, far enough under it for a label
        y = b.bottom + BRANCH + 4 * tracks
        routes.insert(0, [(lane_x, a.cy), (lane_x, y), (b.cx + side, y)])
    route = next((r for r in routes if clear([(a.cx, a.cy), *r, (b.cx, b.cy)])), None)
    if route is None:
        # style="full"'s many lane tracks put those heights past the gap, in the next row: the
        # same ways at a free height inside the gap itself
        x0, x1 = min(lane_x, a.cx, b.cx + side), max(lane_x, a.cx, b.cx + side)
        more = []
        for edge, down in ((b.bottom, True), (b.top, False), (a.bottom, True)):
            y = _in_gap(others, edge, down, x0, x1, busy)
            if y is not None:
                more += [[(a.cx, y), (b.cx + side, y)], [(lane_x, a.cy), (lane_x, y), (b.cx + side, y)]]
        if frame is None:  # the rolled view: a track further out, round a delay square in the lane
            more += [[(lane_x - k * 12, a.cy), (lane_x - k * 12, b.cy)] for k in (1, 2, 3)]
        # the first of those that is clear; in the rolled view, the nearest clear way past the
        # nodes between their rows; else the way through the fewest nodes
        routes += more
        past = _past_the_nodes(layout, a, b, side, others) if frame is None else iter(())
        route = next((r for r in chain(more, past) if clear([(a.cx, a.cy), *r, (b.cx, b.cy)])), None) or min(
            routes, key=lambda r: sum(o.crossed_by(p, q) for p, q in zip([(a.cx, a.cy), *r], [*r, (b.cx, b.cy)],
                                                                         strict=True) for o in others))  # fmt: skip
    # leaving level (or upright) beside the lines that already leave ``src`` that way, not on them
    start, (x0, y0) = src, route[0]
    before = [items[k].rect for k in items if k.startswith((f"bend_{src}_", f"trunk_{src}_")) and k.endswith("_a")]
    # a trunk already going straight down out of it (a decoder's go under its row, into its gates)
    before += [items[k].rect for k in items if k.startswith(f"trunk_{src}_") and k.endswith("_u")]
    # a straight line already leaving level (h_reverse(t) -> h_reverse(t-1)) or upright counts too
    ends = [items[line.ids[1]].rect for line in layout.lines if len(line.ids) == 2 and line.ids[0] == src
            and line.ids[1] in items and items[line.ids[1]].kind == "tensor"]  # fmt: skip
    before += [r for r in ends if abs(r.cy - a.cy) < 1 or abs(r.cx - a.cx) < 1]
    # and a straight line coming into it upright (a mask under a padded run's s(t))
    before += [items[line.ids[0]].rect for line in layout.lines if len(line.ids) == 2 and line.ids[1] == src
               and line.ids[0] in items and abs(items[line.ids[0]].rect.cx - a.cx) < 1]  # fmt: skip
    # and a bent line already coming into ``src`` level (its last bend at src's height)
    before += _bends_in_level(items, src)
    # a level piece already drawn at this height where the line leaves level (style="full": a
    # parameter's line turning into the next step's node of this row): leave beside it too
    side_x = a.left if x0 < a.cx else a.right
    busy = [y for y in _busy(layout, min(x0, side_x), max(x0, side_x)) if a.top <= y <= a.bottom] if y0 == a.cy else []
    n = sum(1 for r in before if abs(r.cy - a.cy) < a.h / 2 and r.cx != a.cx)
    d = None
    if y0 == a.cy and (n or any(abs(y - a.cy) < 3 for y in busy)):
        d = _level_offset(layout, a, side_x, n, busy)
        if busy and not clear([(side_x, a.cy + d), (x0, a.cy + d), *route[1:], (b.cx, b.cy)]):
            # a fallback route through a node: moved beside the lines leaving ``src`` only, not onto its text
            d = _level_offset(layout, a, side_x, n) if n else None
    if d is not None:
        route[0] = (x0, a.cy + d)
        at = (side_x, route[0][1])
    elif x0 == a.cx and (n := sum(1 for r in before if abs(r.cx - a.cx) < a.w / 2 and r.cy != a.cy)):
        route[0] = (a.cx + min(8.0 * n, a.w / 2 - 4), y0)
        at = (route[0][0], a.bottom if y0 > a.cy else a.top)
    else:
        at = None
    if at is not None:
        start = f"bend_{src}_{dst}_out"
        items[start] = Item(start, "anchor", Rect(*at, 0, 0), step=step)
    names = [f"bend_{src}_{dst}_{c}" for c in "abcd"[: len(route)]]
    for name, (x, y) in zip(names, route, strict=True):
        items[name] = Item(name, "point", Rect(x, y, 0, 0), step=step)
    (x, y) = route[-1]
    if x == b.cx + side and not b.top <= y <= b.bottom:  # through the gap by its row: straight in
        end = f"bend_{src}_{dst}_in"
        items[end] = Item(end, "anchor", Rect(x, b.bottom if y > b.cy else b.top, 0, 0), step=step)
        return [start, *names, end]
    return [start, *names, dst]


TWIN_GAP = 5.0  # view="both": between a line and its forward twin
#: view="both": between two lines side by side, each with its twin beside it (on either side:
#: two twins that face each other stay 4 pt apart)
TWIN_TRACK = 2 * TWIN_GAP + 4


def _in_gap(others: list[Rect], edge: float, down: bool, x0: float, x1: float, busy: list[float]) -> float | None:
    """A height in the gap beyond a row's ``edge`` (under it when ``down``) that keeps 3 pt from
    the level pieces in ``busy`` and at least 6 pt from the nodes across ``x0``..``x1`` on both
    sides; None where the gap has no such height."""
    near = [r for r in others if r.right >= x0 and r.left <= x1]
    far = min((r.top for r in near if r.top >= edge), default=edge + 200) if down else \
        max((r.bottom for r in near if r.bottom <= edge), default=edge - 200)  # fmt: skip
    sign = 1 if down else -1
    for k in range(2, int(abs(far - edge) / 4) - 1):
        y = edge + sign * 4 * k
        if all(abs(y - other) >= 3 for other in busy) and not any(r.top - 6 < y < r.bottom + 6 for r in near):
            return y
    return None


def _bends_in_level(items: dict[str, Item], key: str) -> list[Rect]:
    """The last bends of the bent lines already coming into ``key`` level (at its height)."""
    y = items[key].rect.cy
    return [it.rect for k, it in items.items() if k.startswith("bend_") and k.rsplit("_", 1)[0].endswith(f"_{key}")
            and it.kind == "point" and abs(it.rect.cy - y) < 1]  # fmt: skip


def _past_the_nodes(layout: Layout, a: Rect, b: Rect, side: float,
                    others: list[Rect]) -> Iterator[list[tuple[float, float]]]:  # fmt: skip
    """Ways from ``a`` to ``b`` (the rolled view: h0 at the bottom into a padded second layer's
    carried h at the top) out through the gap by ``a``'s row, up or down beside one of the nodes
    between their rows, the nearest first, and in level or through the gap by ``b``'s row; each
    on a track and at heights no line there has."""
    lo, hi = min(a.cy, b.cy), max(a.cy, b.cy)
    span = [r for r in others if r.bottom > lo and r.top < hi]
    uprights = _busy(layout, lo, hi, upright=True)
    ya = a.bottom + 12 if b.cy < a.cy else a.top - 12
    yb = b.top - 12 if b.cy < a.cy else b.bottom + 12
    for x, out in sorted({(r.left, -8.0) for r in span} | {(r.right, 8.0) for r in span},
                         key=lambda s: abs(s[0] - a.cx)):  # fmt: skip
        x = _free_height(x + 1.5 * out, uprights, out)
        if any(r.left - 6 < x < r.right + 6 for r in (a, b)):  # up or down beside its own ends
            continue
        y0 = _free_height(ya, _busy(layout, min(x, a.cx), max(x, a.cx)), math.copysign(4, ya - a.cy))
        y1 = _free_height(yb, _busy(layout, min(x, b.cx), max(x, b.cx)), math.copysign(4, yb - b.cy))
        for route in ([(a.cx, y0), (x, y0), (x, y1), (b.cx + side, y1)], [(a.cx, y0), (x, y0), (x, b.cy)]):
            pieces = list(zip([(a.cx, a.cy), *route], [*route, (b.cx, b.cy)], strict=True))
            # (the other nodes are checked by the caller; not back through its own ends either)
            if not any(a.crossed_by(*p) for p in pieces[1:]) and not any(b.crossed_by(*p) for p in pieces[:-1]):
                yield route


def _busy(layout: Layout, x0: float, x1: float, upright: bool = False) -> list[float]:
    """The heights of the level pieces of the lines already drawn that run somewhere between
    ``x0`` and ``x1`` (style="full"'s risers turning into their nodes, say); ``upright``: the
    x of the upright pieces that run somewhere between the heights ``x0`` and ``x1``."""
    items = layout.items
    rects = [[items[i].rect for i in line.points()] for line in layout.lines]
    return [p.cx if upright else p.cy for line in rects for p, q in zip(line, line[1:], strict=False)
            if (abs(p.cx - q.cx) < 0.5 and min(p.cy, q.cy) <= x1 and max(p.cy, q.cy) >= x0 if upright else
                abs(p.cy - q.cy) < 0.5 and min(p.cx, q.cx) <= x1 and max(p.cx, q.cx) >= x0)]  # fmt: skip


def _frame_edges(layout: Layout, x0: float, x1: float) -> list[float]:
    """The heights of the top and bottom borders of the frames between ``x0`` and ``x1``, and
    of the top, middle and bottom of the labels already there (style="full"'s shares where a
    parameter's line rises): a level line through a gap keeps off them as off another line."""
    lo, hi = min(x0, x1), max(x0, x1)
    return [y for f in layout.frames.values() if f.rect.right >= lo and f.rect.left <= hi
            for y in (f.rect.top, f.rect.bottom)] + [
        y for it in layout.items.values() if it.kind == "label" and it.rect.right >= lo and it.rect.left <= hi
        for y in (it.rect.top, it.rect.cy, it.rect.bottom)]  # fmt: skip


def _free_height(y: float, busy: list[float], step: float) -> float:
    """``y``, or the first height ``step`` by ``step`` from it (16 tries at most) that keeps
    ``|step| - 1`` pt (3 pt; with forward twins beside the lines, room for two of them) from
    every height in ``busy``: a level line through a gap, clear of those already there."""
    for _ in range(16):
        if all(abs(y - other) >= abs(step) - 1 for other in busy):
            break
        y += step
    return y


def _level_offset(layout: Layout, a: Rect, side_x: float, n: int, busy: list[float] = ()) -> float:  # type: ignore[assignment]
    """How far from the middle of a node's side (``side_x``) a line leaves it level, when ``n``
    lines already leave it level there: clear of them and of a forward twin, of the lines
    already ending on that side (style="full"'s risers) and of the heights in ``busy``."""
    ends_at = [it.rect.cy for it in layout.items.values() if it.kind == "anchor" and abs(it.rect.cx - side_x) < 1
               and a.top <= it.rect.cy <= a.bottom]  # fmt: skip
    offsets = [min(2 * TWIN_GAP * k, a.h / 2 - 3) * sign for k in range(n, n + 4) for sign in (1, -1)]
    # then, where those are taken (five lines leaving one side), any height 3 pt from the rest
    offsets += [3.0 * k * sign for k in range(1, int((a.h / 2 - 3) / 3) + 1) for sign in (1, -1)]
    # the ends' arrowheads apart where there is room for that, else 3 pt from the ends
    return next((d for room in (ARROW_WIDTH, 3) for d in offsets
                 if all(abs(a.cy + d - y) >= room for y in ends_at) and all(abs(a.cy + d - y) >= 3 for y in busy)),
                offsets[0])  # fmt: skip


ARROW_ROOM = 8.0  # between the ends of two lines on one node's border: their arrowheads apart
ARROW_SIZE = 0.7  # the arrowheads' size as drawn (Graphviz's arrowsize; draw.py sets it)
ARROW_WIDTH = 7.0  # an arrowhead's width at its base (Graphviz's, at arrowsize 1): a margin where ends are placed


def _heads_clash(a: tuple[tuple[float, float], ...], b: tuple[tuple[float, float], ...], drawn: bool = False
                 ) -> bool:  # fmt: skip
    """Whether two arrowheads (their middle lines, ``_arrowhead``) lie on top of each other: as
    drawn (``drawn``, ARROW_SIZE: to tell which ends must move), or with ARROW_WIDTH between
    their middle lines (a margin, where an end is placed)."""
    return _distance(*a, *b) < ARROW_WIDTH * (ARROW_SIZE if drawn else 1.0)


def _arrowhead(tip: tuple[float, float], before: tuple[float, float]) -> tuple[tuple[float, float], ...]:
    """The middle line of the arrowhead at ``tip`` of a line coming from ``before``: from the
    tip back ``ARROW`` along the line."""
    dx, dy = tip[0] - before[0], tip[1] - before[1]
    n = math.hypot(dx, dy) or 1.0
    return tip, (tip[0] - dx / n * ARROW, tip[1] - dy / n * ARROW)


def _part_ends(layout: Layout) -> None:
    """Lines that meet one node's border less than ``ARROW_ROOM`` apart (x and h0 into an LSTM's
    gate in the rolled view, both from its right): each moves along that side of the node to a
    point of its own, in the order they come (so they do not cross), clear of its rounded
    corners, so that their arrowheads do not lie on top of each other. The receiving ends (the
    forward arrowheads) and the giving ends (the backward ones) alike, and together: view
    "both" draws both. A line that already ends at a point of its own on the border (a trunk's
    branch, a bent line) keeps it, and the ends near it move off it. A group whose lines do not
    all come from beyond one side is left as it is. An elision mark's ends are parted alike (two
    tensors of the next drawn step read the elided h(t))."""
    items = layout.items
    ends: dict[str, list[tuple[Line, tuple[float, float], tuple[float, float], int]]] = {}
    # per node, the ends (and the point before each) of lines at points of their own on its border
    kept: dict[str, list[tuple[tuple[float, float], tuple[float, float]]]] = {}
    nodes = Grid((rect_box(it.rect), it.id) for it in items.values() if it.kind in ("tensor", "cost"))
    for line in layout.lines:
        pieces = layout.segments(line)
        if line.role == "forward" or not pieces:
            continue
        for at, (end, before) in ((-1, pieces[-1][::-1]), (0, pieces[0])):
            it = items[line.ids[at]]
            if it.kind in ("tensor", "cost", "elision"):
                ends.setdefault(line.ids[at], []).append((line, end, before, at))
            elif it.kind == "anchor":
                x, y = it.rect.cx, it.rect.cy
                for k in nodes.near((x - 1, y - 1, x + 1, y + 1)):
                    r = items[k].rect
                    if min(abs(x - r.left), abs(x - r.right), abs(y - r.top), abs(y - r.bottom)) < 0.6:
                        kept.setdefault(k, []).append(((x, y), before))
    for node, meeting in ends.items():
        r = items[node].rect
        arrows = [(end, before) for _, end, before, _ in meeting] + kept.get(node, [])
        points = [end for end, _ in arrows]
        heads = [_arrowhead(*a) for a in arrows]
        groups: list[list[int]] = []  # the ends closer than ARROW_ROOM to another (or, beside a point
        for i, end in enumerate(points):  # of its own, with arrowheads on top of each other), transitively
            near = [g for g in groups if any(math.dist(end, points[j]) < ARROW_ROOM or max(i, j) >= len(meeting)
                                             and _heads_clash(heads[i], heads[j], drawn=True) for j in g)]  # fmt: skip
            for g in near:
                groups.remove(g)
            groups.append([i] + [j for g in near for j in g])
        for g in groups:
            free = [meeting[i] for i in g if i < len(meeting)]
            if len(g) > 1 and free:
                _spread(layout, node, free, r, [arrows[i] for i in range(len(points)) if i not in g], nodes)


def _spread(layout: Layout, node: str, meeting: list, r: Rect,
            others: list[tuple[tuple[float, float], tuple[float, float]]], nodes: Grid) -> None:  # fmt: skip
    """``_part_ends`` for one group: the side every line comes from beyond, points along it,
    clear of the points already on it and of ``others`` (the ends of the node's other lines,
    each with the point its line comes from): each end ``ARROW_ROOM`` from the others along the
    side, and its arrowhead (as its line comes in, slanted or not) clear of theirs, its last
    piece through no other node (``nodes``: a Grid of them). A line that comes straight in
    keeps its end where the others can be placed around it."""
    sides = {"left": lambda p: p[0] < r.left - 1, "right": lambda p: p[0] > r.right + 1,
             "top": lambda p: p[1] < r.top - 1, "bottom": lambda p: p[1] > r.bottom + 1}  # fmt: skip
    # the side the ends lie on, if every line comes from beyond it; else any such side
    mx = sum(end[0] for _, end, _, _ in meeting) / len(meeting)
    my = sum(end[1] for _, end, _, _ in meeting) / len(meeting)
    upright = abs(mx - r.cx) / r.w >= abs(my - r.cy) / r.h  # the ends on the left or right side
    order = (["right", "left"] if mx > r.cx else ["left", "right"]) if upright else []
    order += ["bottom", "top"] if my > r.cy else ["top", "bottom"]
    order += [] if upright else (["right", "left"] if mx > r.cx else ["left", "right"])
    side = next((s for s in order if all(sides[s](before) for _, _, before, _ in meeting)), None)
    if side is None:
        return
    along = 1 if side in ("left", "right") else 0  # the coordinate that varies along the side
    if len(meeting) == 1 and abs(meeting[0][1][along] - meeting[0][2][along]) < 0.5:
        return  # one line, drawn level (or upright) into the side: moved, it would slant
    lo, hi = (r.top, r.bottom) if along else (r.left, r.right)
    # off the rounded corners; an elision mark, a text without a border, lends its ends room
    # beyond it as well
    margin = -ARROW_ROOM if layout.items[node].kind == "elision" else ARROW_ROOM
    lo, hi = lo + margin, hi - margin
    if hi <= lo:
        return
    gap = min(ARROW_ROOM, (hi - lo) / max(len(meeting) - 1, 1))
    span = gap * (len(meeting) - 1)
    fixed = {"left": r.left, "right": r.right, "top": r.top, "bottom": r.bottom}[side]
    # the ends already on that side (a line bent into the node, style="full"'s risers) keep theirs
    at_side = [(it.rect.cx, it.rect.cy) for it in layout.items.values() if it.kind in ("anchor", "point")]
    taken = [p[along] for p in at_side if abs(p[1 - along] - fixed) < 0.6]
    ends = [end[along] for end, _ in others if abs(end[1 - along] - fixed) < 0.6]
    # the arrowheads already there: of ``others``, and straight in at the side's other points
    normal = {"left": (-1, 0), "right": (1, 0), "top": (0, -1), "bottom": (0, 1)}[side]
    heads = [_arrowhead(end, before) for end, before in others]
    heads += [_arrowhead(p, (p[0] + normal[0], p[1] + normal[1])) for p in at_side
              if abs(p[1 - along] - fixed) < 0.6 and (lo - ARROW_ROOM <= p[along] <= hi + ARROW_ROOM)]  # fmt: skip
    middle = min(max((mx, my)[along] - span / 2, lo), hi - span)
    starts = sorted((v for v in (middle + d for d in range(-40, 41)) if lo <= v <= hi - span),
                    key=lambda v: abs(v - middle))  # fmt: skip
    # in the order the lines come (by the slope at which each comes to the side), so that none
    # crosses another: the one that comes from further along the side ends further along it
    centre = (mx, my)[along]
    slope = lambda m: (m[2][along] - centre) / max(abs(m[2][1 - along] - fixed), 1.0)  # noqa: E731
    meeting = sorted(meeting, key=slope)
    # first, where a line that comes straight in (level into a side) keeps its end: moved, it would slant
    starts = [v for k, m in enumerate(meeting) if abs(m[1][along] - m[2][along]) < 0.5
              if lo <= (v := m[1][along] - gap * k) <= hi - span] + starts  # fmt: skip

    def at_(v: float) -> tuple[float, float]:
        return (fixed, v) if along else (v, fixed)

    def through(end: tuple[float, float], m: tuple) -> bool:  # type: ignore[type-arg]
        own = {node, m[0].ids[0], m[0].ids[-1]}
        return any(layout.items[k].rect.crossed_by(m[2], end) for k in nodes.near(segment_box((m[2], end)))
                   if k not in own)  # fmt: skip

    def clear(v: float, strict: int) -> bool:  # every end ARROW_ROOM from the points there, and
        # (where there is room for that) from the other lines' ends and their arrowheads
        if any(abs(v + gap * k - t) < ARROW_ROOM for k in range(len(meeting)) for t in taken + ends * (strict > 0)):
            return False
        if any(through(at_(v + gap * k), m) for k, m in enumerate(meeting)):
            return False
        mine = [_arrowhead(at_(v + gap * k), m[2]) for k, m in enumerate(meeting)] if strict > 1 else []
        return not any(_heads_clash(a, b) for i, a in enumerate(mine) for b in heads + mine[:i])

    # where the arrowheads cannot all be clear: the ends ARROW_ROOM apart, as before the
    # arrowheads were looked at, only for ends that meet one another the same way (two lines
    # in): an end near only a line out, or only a point of its own, stays where it is
    same_way = len(meeting) > len({at for *_, at in meeting})
    first = next((v for strict in ((2, 1, 0) if same_way else (2,)) for v in starts if clear(v, strict)), None)
    if first is None:
        return
    for k, (line, _, _, at) in enumerate(meeting):
        point = at_(first + gap * k)
        name = f"{'in' if at == -1 else 'out'}_{node}_{k}_{len(layout.items)}"
        layout.items[name] = Item(name, "anchor", Rect(*point, 0, 0), step=layout.items[node].step)
        line.ports[at] = name


def _forward_twins(layout: Layout) -> None:
    """Géron's BPTT figure in one picture (view="both"): beside each line that carries data or
    an output into the cost, its forward twin ``TWIN_GAP`` away, on the left of a rising line
    and under a flat one, from the border of the node it leaves to the border of the node it
    enters (bends mitred, so that the twin stays parallel)."""
    items = layout.items
    drawn = [seg for line in layout.lines for seg in layout.segments(line)]  # and the twins, as they come

    def beside(line: Line, pts: list[tuple[float, float]], dirs: list[tuple[float, float]],
               sign: float) -> list[tuple[float, float]]:  # fmt: skip
        normals = [(sign * dy, -sign * dx) for dx, dy in dirs]
        out = []
        for i, (x, y) in enumerate(pts):
            n1 = normals[max(i - 1, 0)]
            n2 = normals[min(i, len(normals) - 1)]
            m = 1.0 + n1[0] * n2[0] + n1[1] * n2[1]
            if m < 1e-6:  # a line that turns back on itself: no mitre
                m, n2 = 2.0, n1
            out.append((x + TWIN_GAP * (n1[0] + n2[0]) / m, y + TWIN_GAP * (n1[1] + n2[1]) / m))
        out[0] = _border(items[line.ids[0]], out[0], dirs[0], leaving=True)
        out[-1] = _border(items[line.ids[-1]], out[-1], dirs[-1], leaving=False)
        return out

    # the boxes and texts a twin must not cross (style="full"'s parameter boxes and shares among them)
    boxes = [it.rect for it in items.values() if it.kind in (*IN_THE_WAY, "label")]

    # each line's twin on its default side: the one on the left of a steep last piece, under a
    # flat one (the whole line turns the same way)
    plans: list[tuple[int, Line, list[tuple[float, float]], list[tuple[float, float]], float,
                      list[tuple[float, float]]]] = []  # fmt: skip
    for k, line in enumerate(list(layout.lines)):
        if line.role not in ("data", "cost"):
            continue
        segs = layout.segments(line)
        pts = [segs[0][0]] + [b for _, b in segs]
        dirs = [_unit(a, b) for a, b in segs]
        if any(d is None for d in dirs):
            continue
        ux, uy = dirs[-1]  # type: ignore[misc]
        want = (-1.0, 0.0) if abs(uy) >= abs(ux) else (0.0, 1.0)  # the normal (uy, -ux) or (-uy, ux) nearer
        sign = 1.0 if uy * want[0] - ux * want[1] > 0 else -1.0
        plans.append((k, line, pts, dirs, sign, beside(line, pts, dirs, sign)))  # type: ignore[arg-type]
    # the arrowheads at both ends of every line, and at the twins' ends (where each is planned,
    # then where it goes)
    twin_heads = {id(line): _arrowhead(out[-1], out[-2]) for _, line, _, _, _, out in plans}
    heads = Grid((segment_box(h), (id(line), h, False)) for line in layout.lines
                 if (pieces := layout.segments(line)) for h in (_arrowhead(*pieces[0]), _arrowhead(*pieces[-1][::-1])))
    for k, h in twin_heads.items():
        heads.add(segment_box(h), (k, h, True))

    def clashes(head: tuple[tuple[float, float], ...], line: Line) -> int:
        """How many arrowheads of other lines, and of the twins where they are now, lie on ``head``."""
        x0, y0, x1, y1 = segment_box(head)  # type: ignore[arg-type]
        near = heads.near((x0 - ARROW_WIDTH, y0 - ARROW_WIDTH, x1 + ARROW_WIDTH, y1 + ARROW_WIDTH))
        return sum(_heads_clash(head, h) for k, h, twin in near if k != id(line) and (not twin or twin_heads[k] is h))

    def on_top(out: list[tuple[float, float]], line: Line, ends: tuple[tuple[float, float], ...]) -> tuple[int, int]:
        """Pieces on another line or twin and boxes crossed (but those of the line's own ends);
        then, the twin's arrowhead on another line's or twin's."""
        pieces = list(zip(out, out[1:], strict=False))
        return (sum(overlap(p, q, *seg) >= 4 for p, q in pieces for seg in drawn)
                + sum(r.crossed_by(p, q) for r in boxes if not any(r.overlaps(Rect(*e, 0, 0), 1) for e in ends)
                      for p, q in pieces),
                clashes(_arrowhead(out[-1], out[-2]), line))  # fmt: skip

    for k, line, pts, dirs, sign, out in plans:
        # on the other side where the twin would run on another line or twin (two lines 2
        # TWIN_GAP apart), or, no worse there, its arrowhead would lie on another's
        if any(bad := on_top(out, line, (pts[0], pts[-1]))):
            other = beside(line, pts, dirs, -sign)
            out = other if on_top(other, line, (pts[0], pts[-1])) < bad else out
        drawn += list(zip(out, out[1:], strict=False))
        twin_heads[id(line)] = _arrowhead(out[-1], out[-2])
        heads.add(segment_box(twin_heads[id(line)]), (id(line), twin_heads[id(line)], True))
        step = items[line.ids[-1]].step
        ids = []
        for j, (x, y) in enumerate(out):
            ids.append(f"fwd{k}_{j}")
            items[ids[-1]] = Item(ids[-1], "anchor", Rect(x, y, 0, 0), step=step)
        line.twin = Line(ids, "forward", line.edge)
        layout.lines.append(line.twin)


def _unit(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float] | None:
    d = math.hypot(b[0] - a[0], b[1] - a[1])
    return None if d == 0 else ((b[0] - a[0]) / d, (b[1] - a[1]) / d)


def _border(item: Item, p: tuple[float, float], u: tuple[float, float], leaving: bool) -> tuple[float, float]:
    """Where the line through ``p`` along ``u`` leaves (or enters) ``item``'s box; ``p`` itself
    where the item is a point or the line misses the box."""
    if item.kind in ("point", "anchor"):
        return p
    r = item.rect
    lo, hi = -math.inf, math.inf
    for pc, uc, a, b in ((p[0], u[0], r.left, r.right), (p[1], u[1], r.top, r.bottom)):
        if abs(uc) < 1e-12:
            if not a <= pc <= b:
                return p
            continue
        s1, s2 = (a - pc) / uc, (b - pc) / uc
        lo, hi = max(lo, min(s1, s2)), min(hi, max(s1, s2))
    if lo > hi:
        return p
    s = hi if leaving else lo
    return p[0] + s * u[0], p[1] + s * u[1]


def _stub(layout: Layout, desc: Description, e: Edge, names: dict[str, str], pieces: Grid) -> None:
    """A short line into ``e.dst`` standing for a parameter that acts on no other input (a
    bias): it carries the parameter's label (its place found with the stub's, at the size of
    the backward view's, the larger)."""
    shown = share_lines(desc.node(e.src), desc.node(e.dst).step, e.grad_norm, True, names.get(e.src),
                        desc.splits.get((e.src, e.dst, e.index)))  # fmt: skip
    label = text.box(shown, LABEL_FONT)
    point = stub_point(layout, f"stub_{e.src}_{e.dst}_{e.index}", e.dst, label, pieces)
    layout.lines.append(Line([point, e.dst], "stub", e, param=e.src, share=e.grad_norm))  # this use's share


def stub_point(layout: Layout, point: str, target: str, label: tuple[float, float] | None = None,
               pieces: Grid | None = None) -> str:  # fmt: skip
    """Put the free end of a stub into ``target`` where its line keeps clear of every other
    line and node: below the node's left side first, then further along, then the other sides
    (right of the node last: a bus under its row can leave no room below).
    With the ``label``'s size (w, h): where a label that size also finds a place beside the
    stub, nearer it than any other line."""
    items = layout.items
    node = items[target].rect
    # only what lies near the node can be in the way: the spots are within 26 pt of it, a label
    # beside its stub within a label's size (a deep network's 2,000 lines, 425 stubs: 8 s of 12)
    # (``pieces``: the lines' pieces so far, kept by the caller that puts many stubs)
    near = Rect(node.cx, node.cy, node.w + 600, node.h + 600)
    segments = [seg for _, seg in (pieces or _pieces_grid(layout)).near(rect_box(near))]
    others = [it.rect for it in items.values() if it.kind in ("tensor", "cost", "elision") and it.id != target
              and near.overlaps(it.rect)]  # fmt: skip
    spots = [(node.left + 8 + 14 * k, node.bottom + 24) for k in range(4)]
    spots += [(node.left - 26, node.cy + node.h / 2 + 10), (node.left + 8, node.top - 24)]
    spots += [(node.right - 8, node.bottom + 24)]
    spots += [(node.right + 26, node.cy + node.h / 2 + 10), (node.right - 8, node.top - 24)]
    step = items[target].step
    frame = layout.frames.get(step) if step is not None else None
    clear = []
    for x, y in spots:
        end = _clip(items[target], (x, y), (node.cx, node.cy))
        if any(r.crossed_by((x, y), end) for r in others):
            continue
        if any(_distance((x, y), end, a, b) < 6 for a, b in segments):
            continue
        clear.append((x, y))
        if label is None:
            break
        own = ((x, y), end)
        taken = [*others, node, *layout.reserved.values()]
        spot = _free_spot(own, *label, frame, taken, [(None, g) for g in [*segments, own]], paired=True)
        if spot is not None:  # the label's place is kept for it: the longer lines' labels go round it
            layout.reserved[point] = spot
            break
    else:
        x, y = clear[0] if clear else spots[0]
    items[point] = Item(point, "point", Rect(x, y, 0, 0), step=step)
    return point


def _distance(a1: tuple[float, float], a2: tuple[float, float], b1: tuple[float, float], b2: tuple[float, float]
              ) -> float:  # fmt: skip
    """The shortest distance between segments a1-a2 and b1-b2 (0 where they cross)."""

    def cross(o: tuple[float, float], p: tuple[float, float], q: tuple[float, float]) -> float:
        return (p[0] - o[0]) * (q[1] - o[1]) - (p[1] - o[1]) * (q[0] - o[0])

    if (cross(a1, a2, b1) * cross(a1, a2, b2) < 0) and (cross(b1, b2, a1) * cross(b1, b2, a2) < 0):
        return 0.0

    def to_segment(p: tuple[float, float], s1: tuple[float, float], s2: tuple[float, float]) -> float:
        dx, dy = s2[0] - s1[0], s2[1] - s1[1]
        length2 = dx * dx + dy * dy
        t = 0.0 if length2 == 0 else max(0.0, min(1.0, ((p[0] - s1[0]) * dx + (p[1] - s1[1]) * dy) / length2))
        return math.hypot(p[0] - s1[0] - t * dx, p[1] - s1[1] - t * dy)

    return min(to_segment(a1, b1, b2), to_segment(a2, b1, b2), to_segment(b1, a1, a2), to_segment(b2, a1, a2))


def _cost(layout: Layout, desc: Description, backward: bool, values: bool, top: float) -> None:
    """The one cost node above the frames, and a riser from each output it reads."""
    items = layout.items
    lines = cost_lines(desc, backward, values)
    w, h = text.box(lines + cost_lines(desc, not backward, values), NODE_FONT)
    h = text.box(lines, NODE_FONT)[1]
    reads = [k for k in desc.cost_reads if k in items]
    xs = [items[k].rect.cx for k in reads] or [0.0]
    cx = (min(xs) + max(xs)) / 2
    nodes = [o for o in items.values() if o.kind == "tensor"]
    # where each riser rises: over its tensor, or, where a tensor over it in its step is in the
    # way (h(0) over h_reverse(0), the final state of a bidirectional RNN's backward direction),
    # up from its top beside that tensor, or from its top corner out to beside it
    beside: dict[str, tuple[float, float]] = {}
    for k in reads:
        it = items[k]
        if it.step in layout.frames and _crossed(nodes, (it.rect.cx, it.rect.top), (it.rect.cx, top - 10), k):
            uprights = _busy(layout, top - 10, it.rect.top, upright=True)  # the lane tracks there, say,
            uprights += [x for x, _ in beside.values()]  # and the risers beside tensors placed so far
            beside[k] = _riser_beside(nodes, it, top, cx, uprights, layout.pitch)
    xs = [beside[k][0] if k in beside else items[k].rect.cx for k in reads] or [0.0]

    def close(rise: float) -> int:  # pairs of risers whose lines into the cost are less than 3 degrees apart
        angles = sorted({math.atan2(rise + (h + 10) / 2 - 10, cx - x) for x in xs if abs(x - cx) > 1})
        return sum(b - a < math.radians(3) for a, b in zip(angles, angles[1:], strict=False))

    # higher where the outputs lie far apart (a wide step): lines that meet at the cost at a
    # shallow angle run on top of each other, and of their forward twins, before they meet
    rise = next((COST_RISE + 20 * k for k in range(9) if close(COST_RISE + 20 * k) == 0), COST_RISE)
    cost = Item("cost", "cost", Rect(cx, top - rise - (h + 10) / 2, w + 20, h + 10), lines, key=desc.roots[0])
    items["cost"] = cost
    # two risers of one step (h(T-1) and h_l1(T-1)) end at heights of their own, the one further
    # from the cost higher: lines to a cost far away would otherwise run nearly on top of each other
    by_step: dict[int, list[float]] = {}
    for k, x in zip(reads, xs, strict=False):
        by_step.setdefault(items[k].step, []).append(abs(x - cx))  # type: ignore[arg-type]
    for k, x in zip(reads, xs, strict=False):
        it = items[k]
        if it.step is not None and it.step in layout.frames:
            riser = f"riser_{k}"
            higher = sorted(by_step[it.step]).index(abs(x - cx))
            x, line = it.rect.cx, Line([k, riser, "cost"], "cost")
            if k in beside:
                x, corner = beside[k]
                line.ports[0] = f"{riser}_out"
                items[line.ports[0]] = Item(line.ports[0], "anchor", Rect(corner, it.rect.top, 0, 0), step=it.step)
                if corner != x:
                    line.ids.insert(1, f"{riser}_bend")
                    items[line.ids[1]] = Item(line.ids[1], "point", Rect(x, it.rect.top - 12, 0, 0), step=it.step)
            items[riser] = Item(riser, "point", Rect(x, top - 10 - 10 * higher, 0, 0), step=it.step)
            layout.lines.append(line)
        else:
            layout.lines.append(Line([k, "cost"], "cost"))
    if "elided" in items and any(not desc.node(k).drawn for k in desc.cost_reads):
        riser = "riser_elided"  # out of the top mark: a riser from a lower one would cross those over it
        mark = min((it for it in items.values() if it.kind == "elision"), key=lambda it: it.rect.cy)
        items[riser] = Item(riser, "point", Rect(mark.rect.cx, top - 10, 0, 0))
        layout.lines.append(Line([mark.id, riser, "cost"], "elision"))


def _crossed(nodes: list[Item], a: tuple[float, float], b: tuple[float, float], own: str) -> bool:
    return any(o.rect.crossed_by(a, b) for o in nodes if o.id != own)


def _riser_beside(nodes: list[Item], it: Item, top: float, cost_x: float, uprights: list[float],
                  pitch: float) -> tuple[float, float]:  # fmt: skip
    """(x of the riser, x where it leaves ``it``'s top) for a riser that the tensors over ``it``
    in its step block: straight up from its top, 14 pt beside them (off the arrowheads of the
    lines into their sides) where it is wider, else from its top corner on the cost's side out
    to beside them; ``pitch`` from the upright lines already there (at x in ``uprights``)."""
    r = it.rect
    over = [o.rect for o in nodes if o.step == it.step and o.rect.bottom <= r.top and o.id != it.id
            and o.rect.right > r.left and o.rect.left < r.right]  # fmt: skip
    clear = [x for x in range(math.ceil(r.left + 8), math.floor(r.right - 8) + 1)
             if not any(o.left - 14 < x < o.right + 14 for o in over)  # off the arrowheads into them
             and all(abs(x - u) >= pitch - 1 for u in uprights)
             and not _crossed(nodes, (x, r.top), (x, top - 10), it.id)]  # fmt: skip
    if clear:
        x = float(min(clear, key=lambda x: (abs(x - r.cx), x)))
        return x, x
    left, right = min(o.left for o in over) - 14, max(o.right for o in over) + 14
    sides = [(max(right, r.right - 8), r.right - 8, pitch), (min(left, r.left + 8), r.left + 8, -pitch)]
    ordered = sides if cost_x > r.cx else sides[::-1]  # the cost's side first

    def through(x: float, corner: float) -> bool:  # the riser's way crosses a tensor
        return _crossed(nodes, (corner, r.top), (x, r.top - 12), it.id) or _crossed(
            nodes, (x, r.top - 12), (x, top - 10), it.id)  # fmt: skip

    # beside the tensors, further out by ``pitch`` steps where an upright line is there (or the
    # way crosses a tensor); where no such place is clear, beside them as they are
    for x0, corner, step in ordered:
        for x in (x0 + step * k for k in range(16)):
            if all(abs(x - u) >= abs(step) - 1 for u in uprights) and not through(x, corner):
                return x, corner
    for x, corner, _ in ordered:
        if not through(x, corner):
            return x, corner
    return sides[0][:2]


def _labels(layout: Layout, desc: Description, pairs: dict[str, dict[int, list[str]]], backward: bool) -> None:
    """Each parameter's label on the line it acts on, inside the step's frame, where it
    touches no node, no line and no other label."""
    items = layout.items
    segments = _pieces_grid(layout)
    taken = Grid((rect_box(it.rect), it.rect) for it in items.values() if it.kind in ("tensor", "cost", "elision"))
    for r in [*(it.rect for it in items.values() if it.kind == "title"), *layout.reserved.values()]:
        taken.add(rect_box(r), r)
    names = param_names(desc)
    uses: dict[tuple[str, int | None], int] = {}  # (parameter, step): how many times the step uses it
    for e in desc.edges:
        if desc.node(e.src).kind == PARAMETER:
            uses[(e.src, desc.node(e.dst).step)] = uses.get((e.src, desc.node(e.dst).step), 0) + 1
    seen: dict[tuple[str, int | None], int] = {}
    trunks: dict[str, list[Line]] = {}  # a trunk's pieces: part of each of its branches' own line
    for line in layout.lines:
        if line.role != "data" and line.trunk is not None:
            trunks.setdefault(line.trunk, []).append(line)
    for line in layout.lines:
        if line.role == "stub":
            params = [line.param]
        elif line.edge is not None and line.ids[-1] in items and line.role in ("data", "elision"):
            params = pairs.get(line.edge.dst, {}).get(line.edge.index, [])
        else:
            continue
        target = items[line.ids[-1]]
        step = target.step
        for p in params:
            # this use's share: what flowed back along the parameter's own edge into the node
            # (the step's share when the step uses the parameter once, as an RNN step does)
            use = line.edge if line.role == "stub" else _use_edge(desc, p, line.edge)  # type: ignore[arg-type]
            share = line.share if line.role == "stub" else use.grad_norm if use is not None else None
            if line.role != "stub" and line.share is None:
                line.share = share  # the line's colour where nothing flows on to its input (x -> h)
            split = desc.splits.get((use.src, use.dst, use.index)) if use is not None else None
            text_lines = share_lines(desc.node(p), step, share, backward, names.get(p), split)
            if backward and uses.get((p, step), 1) > 1:  # this use's part of the step's share
                seen[(p, step)] = seen.get((p, step), 0) + 1
                text_lines[0] += f" use {seen[(p, step)]}/{uses[(p, step)]}"
            w, h = text.box(text_lines, LABEL_FONT)
            seg = layout.segments(line)[-1]
            frame = layout.frames.get(step) if step is not None else None
            own = {*layout.segments(line), *(layout.segments(line.twin) if line.twin is not None else [])}
            own |= {g for t in trunks.get(line.trunk or "", []) for g in layout.segments(t)}
            kept = layout.reserved.get(line.ids[0]) if line.role == "stub" else None
            if kept is not None and w <= kept.w + 0.5 and h <= kept.h + 0.5 and _nearest(kept, seg, segments, own):
                spot = Rect(kept.cx, kept.cy, w, h)  # the place found with the stub (still nearest its line)
            else:
                free = taken
                spot = _free_spot(seg, w, h, frame, free, segments, own, paired=True, skip=kept)
                for piece in reversed(layout.segments(line)[:-1]) if spot is None else ():
                    # a bent line (h0 along a gap and up into h(t)): along its other pieces, from its end back
                    spot = _free_spot(piece, w, h, frame, free, segments, own, paired=True, skip=kept)
                    if spot is not None:
                        break
                if spot is None and line.trunk is not None:  # a short branch: beside where it leaves the bus
                    junction = items[line.ids[0]].rect
                    # along the piece of the bus that comes into the junction (not past its end)
                    feeds = [items[t.ids[0]].rect.cx for t in trunks.get(line.trunk, []) if t.ids[-1] == line.ids[0]]
                    for dx in [12.0 if x > junction.cx else -12.0 for x in feeds] or [-12.0, 12.0]:
                        near = ((junction.cx + dx, junction.cy), (junction.cx, junction.cy))
                        spot = _free_spot(near, w, h, frame, free, segments, own, paired=True, skip=kept)
                        if spot is not None:
                            break
                    else:
                        # beside the branch and under (or over) the bus it hangs from, where another
                        # trunk's bus runs close by (a decoder's gates read h(t-1) and o(t-1)):
                        # nearer the branch and its junction's bus pieces than any other line
                        bus = {g for t in trunks[line.trunk] for g in layout.segments(t)
                               if (junction.cx, junction.cy) in g}  # fmt: skip
                        spot = _free_spot(seg, w, h, frame, free, segments, own, paired=True, hangs_from=bus, skip=kept)
                if spot is None:  # a wide label beside its line, its edge (not its centre) nearest it
                    spot = _free_spot(seg, w, h, frame, free, segments, own, paired=True, skip=kept, beside=True)
                if spot is None:
                    spot = _free_spot(seg, w, h, frame, free, segments, own, skip=kept)
                    layout.unpaired.append(f"{text_lines[0]} on {line.ids}")
            if spot is None:
                layout.conflicts.append(f"{text_lines[0]} on {line.ids}")
                spot = _candidates(seg, w, h)[0]
            at = f"t{step}_" if step is not None else ""
            label = Item(f"label_{at}{p}_{'_'.join(line.ids)}", "label", spot, text_lines, step, key=p, font=LABEL_FONT)
            items[label.id] = label
            taken.add(rect_box(spot), spot)


def param_names(desc: Description, qualified: bool = False) -> dict[str, str]:
    """What the diagram calls each parameter. On a step's label: its own name (W of decoder.W:
    the frame's title names the module) unless a parameter of that name is used in the same step,
    then its full name. ``qualified`` (the totals, which belong to no step): the full name. Two
    parameters that still share a name are numbered in the order they are first used (two
    nn.RNN layers both call their weights W: W[1] is the first layer's)."""
    together: dict[str, set[str]] = {}  # parameter -> the parameters used in a step with it
    by_step: dict[int | None, set[str]] = {}
    first_use: dict[str, int] = {}
    for e in desc.edges:
        if desc.node(e.src).kind == PARAMETER:
            by_step.setdefault(desc.node(e.dst).step, set()).add(e.src)
            first_use[e.src] = min(first_use.get(e.src, 1 << 60), int(e.dst[1:]))
    for used in by_step.values():
        for p in used:
            together.setdefault(p, set()).update(used)
    params = [n for n in desc.nodes if n.kind == PARAMETER]
    out: dict[str, str] = {}
    for n in params:
        near = params if qualified else [desc.node(k) for k in together.get(n.key, {n.key})]
        if sum(m.name == n.name for m in params) > 1:  # nothing tells them apart but their order
            same = sorted((m.key for m in params if m.name == n.name), key=lambda k: first_use.get(k, int(k[1:])))
            out[n.key] = f"{n.name or 'param'}[{same.index(n.key) + 1}]"
        elif not qualified and sum(short_name(m) == short_name(n) for m in near) == 1:
            out[n.key] = short_name(n)
        elif sum(m.name == n.name for m in near) == 1:
            out[n.key] = n.name or "param"
        else:
            same = sorted((m.key for m in params if m.name == n.name), key=lambda k: first_use.get(k, int(k[1:])))
            out[n.key] = f"{n.name or 'param'}[{same.index(n.key) + 1}]"
    return out


def _use_edge(desc: Description, param: str, data: Edge) -> Edge | None:
    """The parameter's use that acts on the input ``data`` (U in x(t) U): its edge into the
    same node, at the index paired with ``data``'s (its grad_norm: that use's share)."""
    op = desc.node(data.dst).op
    for e in desc.incoming(data.dst):
        if e.src == param and _acts_on(op, e.index) == data.index:
            return e
    return None


def title_rect(frame: Item) -> Rect:
    """Where a frame's title is written: its top left corner."""
    w, h = text.box(frame.lines, TITLE_FONT)
    return Rect(frame.rect.left + 6 + w / 2, frame.rect.top + 4 + h / 2, w, h)


def _candidates(seg: tuple[tuple[float, float], tuple[float, float]], w: float, h: float) -> list[Rect]:
    """Places for a w x h label beside the segment, nearest its end (the receiving node) first:
    right or left of a steep line, above or below a flat one, then the other sides."""
    (x0, y0), (x1, y1) = seg
    dx, dy = x1 - x0, y1 - y0
    side = [(w / 2 + 5, 0.0), (-(w / 2 + 5), 0.0)]
    over = [(0.0, -(h / 2 + 4)), (0.0, h / 2 + 4)]
    corners = [(sx * (w / 2 + 4), sy * (h / 2 + 4)) for sx in (1, -1) for sy in (-1, 1)]
    offsets = (side + over if abs(dy) >= abs(dx) else over + side) + corners
    offsets += [(2 * ox + (8 if ox > 0 else -8 if ox < 0 else 0), 2 * oy) for ox, oy in offsets]  # further out
    return [
        Rect(x1 - dx * f + ox, y1 - dy * f + oy, w, h)
        for ring in (offsets[: len(offsets) // 2], offsets[len(offsets) // 2 :])
        for f in (0.5, 0.35, 0.65, 0.2, 0.8, 0.1, 0.9, 1.0)
        for ox, oy in ring
    ]


def _free_spot(seg, w: float, h: float, frame: Item | None, taken: list[Rect] | Grid, segments, mine=frozenset(),  # type: ignore[no-untyped-def]
               paired: bool = False, hangs_from=frozenset(), skip: Rect | None = None,
               beside: bool = False) -> Rect | None:  # fmt: skip
    """The first candidate place inside ``frame`` that overlaps nothing ``taken``, keeps 3 pt
    clear of every line, and lies nearer its own line than any other (so that a reader pairs
    the label with the right line; ``mine``: more segments that count as its own, such as the
    line's forward twin; ``hangs_from``: segments its distance is measured to as well as to its
    own line, such as the bus a branch leaves); where no place is nearer its own line, the
    first free one (None with ``paired``). ``taken`` and ``segments`` (as (key, piece)) may be
    Grids (``skip``: a box of ``taken`` that does not count)."""
    free = None
    candidates = _candidates(seg, w, h)
    # only what lies near the candidates can touch them: a few checks instead of the whole drawing's
    left, right = min(r.left for r in candidates) - 5, max(r.right for r in candidates) + 5
    top, bottom = min(r.top for r in candidates) - 5, max(r.bottom for r in candidates) + 5
    if isinstance(taken, Grid):
        taken = [t for t in taken.near((left, top, right, bottom)) if t is not skip]
    else:
        taken = [t for t in taken if t.right >= left and t.left <= right and t.bottom >= top and t.top <= bottom]
    reach = math.hypot(right - left, bottom - top) + 2  # no candidate is further than this from its own line

    def meets(a: tuple[float, float], b: tuple[float, float], pad: float) -> bool:  # the boxes, padded, overlap
        return (max(a[0], b[0]) >= left - pad and min(a[0], b[0]) <= right + pad
                and max(a[1], b[1]) >= top - pad and min(a[1], b[1]) <= bottom + pad)  # fmt: skip

    if isinstance(segments, Grid):
        segments = segments.near((left - reach, top - reach, right + reach, bottom + reach))
    near = [(k, (a, b)) for k, (a, b) in segments if meets(a, b, reach)]
    segments = [(k, (a, b)) for k, (a, b) in near if meets(a, b, 0)]
    for r in candidates:
        if frame is not None and not r.inside(Rect(frame.rect.cx, frame.rect.cy, frame.rect.w - 4, frame.rect.h - 4)):
            continue
        if any(r.overlaps(t, 2) for t in taken):
            continue
        if any(Rect(r.cx, r.cy, r.w + 6, r.h + 6).crossed_by(a, b) for _, (a, b) in segments):  # 3 pt clear
            continue
        free = free or r
        if not _nearest(r, seg, near, mine, hangs_from, beside):
            continue
        return r
    return None if paired else free


ARROW = 10.0  # an arrowhead's length: the drawn line stops short of its end by this much


def _shortened(seg, by: float):  # type: ignore[no-untyped-def]
    """``seg`` without ``by`` at each end (where an arrowhead may replace the line), if long enough."""
    (x0, y0), (x1, y1) = seg
    n = math.hypot(x1 - x0, y1 - y0)
    if n <= 2 * by + 2:
        return seg
    ux, uy = (x1 - x0) / n * by, (y1 - y0) / n * by
    return (x0 + ux, y0 + uy), (x1 - ux, y1 - uy)


def _nearest(r: Rect, seg, segments, mine=frozenset(), hangs_from=frozenset(), beside: bool = False) -> bool:  # type: ignore[no-untyped-def]
    """Whether the centre of ``r`` is nearer ``seg`` (or a segment of ``hangs_from``) than any
    segment not in ``mine``, by at least two points (so that a reader pairs the label with its
    own line); ``beside``: or its edge is within 6 pt of its own line and BESIDE_CLEAR nearer it
    than any other (a wide label beside an upright line, its centre far from it)."""
    own = min(_distance((r.cx, r.cy), (r.cx, r.cy), a, b) for a, b in [_shortened(seg, ARROW), *hangs_from])
    near = segments.near((r.cx - own - 2, r.cy - own - 2, r.cx + own + 2, r.cy + own + 2)) if isinstance(
        segments, Grid) else segments  # only those within own + 2 of the centre can be nearer  # fmt: skip
    if not any(_distance((r.cx, r.cy), (r.cx, r.cy), a, b) < own + 2 for _, (a, b) in near
               if (a, b) != seg and (a, b) not in mine):  # fmt: skip
        return True
    if not beside:
        return False
    sides = [((r.left, r.top), (r.right, r.top)), ((r.right, r.top), (r.right, r.bottom)),
             ((r.right, r.bottom), (r.left, r.bottom)), ((r.left, r.bottom), (r.left, r.top))]  # fmt: skip
    edge = min(_distance(*side, a, b) for side in sides for a, b in [_shortened(seg, ARROW), *hangs_from])
    reach = edge + BESIDE_CLEAR
    box = (r.left - reach, r.top - reach, r.right + reach, r.bottom + reach)
    others = segments.near(box) if isinstance(segments, Grid) else segments
    return edge <= 6 and not any(_distance(*side, a, b) < reach for _, (a, b) in others
                                 if (a, b) != seg and (a, b) not in mine for side in sides)  # fmt: skip


BESIDE_CLEAR = 12.0  # how much nearer its own line than any other a label's edge is, to read as that line's


def legend_and_caption(
    layout: Layout, scale: Scale | None, present: Iterable[str], caption: list[str], totals: list[str] = ()
) -> None:
    """Under the drawing: the caption, then (backward view) the colour key in a row, wrapped at
    the drawing's width, and each parameter's total gradient. Below rather than beside, so that
    the drawing keeps its width and its labels stay readable when a page scales it down."""
    items = layout.items
    rects = [it.rect for it in items.values()]
    left = min((r.left for r in rects), default=0.0)
    right = max((r.right for r in rects), default=0.0)
    y = max((r.bottom for r in rects), default=0.0) + 12
    caption = [piece for line in caption for piece in _wrap(line, max(right - left, 360.0))]
    w, h = text.box(caption, NODE_FONT)
    items["caption"] = Item("caption", "caption", Rect(left + w / 2, y + h / 2, w, h), caption)
    y += h + 8
    if scale is None:
        return
    title = [f"colour: ‖∂L/∂·‖, {scale.caption()}"]
    tw, th = text.box(title, LABEL_FONT)
    items["legend_title"] = Item("legend_title", "legend", Rect(left + tw / 2, y + 8, tw, th), title, font=LABEL_FONT)
    x = left + tw + 14
    for i, (colour, label) in enumerate(scale.entries(present)):
        lw, lh = text.box([label], LABEL_FONT)
        if x + 24 + lw > max(right, left + 400):  # wrap
            x, y = left, y + 19
        items[f"legend{i}"] = Item(f"legend{i}", "legend", Rect(x + 9, y + 8, 18, 14), [colour], font=LABEL_FONT)
        items[f"legend{i}_text"] = Item(f"legend{i}_text", "legend", Rect(x + 24 + lw / 2, y + 8, lw, lh), [label],
                                        font=LABEL_FONT)  # fmt: skip
        x += 24 + lw + 14
    if totals:
        line = _wrap(totals[0] + " " + ", ".join(totals[1:]), max(right - left, 400.0), ",", LABEL_FONT)
        tw, th = text.box(line, LABEL_FONT)
        items["totals"] = Item("totals", "legend", Rect(left + tw / 2, y + 19 + 8 + th / 2, tw, th), line,
                               font=LABEL_FONT)  # fmt: skip


def _wrap(line: str, width: float, sep: str = ";", font: float = NODE_FONT) -> list[str]:
    """``line`` cut after ``sep`` + " " where it would be wider than ``width``."""
    out, current = [], ""
    for piece in line.split(f"{sep} "):
        joined = f"{current}{sep} {piece}" if current else piece
        if current and text.width(joined, font) > width:
            out.append(current + sep)
            current = piece
        else:
            current = joined
    return out + [current]


# --- the rolled view ------------------------------------------------------------------------


def rolled(desc: Description) -> Layout:
    """The folded circuit: one node per role (x, h, o, ...), the per-step costs one cost node,
    parameters as labels on the lines they act on, and a one-step delay (■) on exactly the
    lines that close a loop: h(t-1) → h(t), o(t-1) → h(t), never the hand-off from an encoder
    to a decoder or the sum of the costs.

    Where a label finds no free place (a stacked LSTM's many gates) or a line crosses a node
    (a stacked GRU's delays), the circuit is drawn again with its delays further out, and with
    its roles and rows further apart; the first drawing with neither is kept, else the one
    with the fewest misplaced labels, then the fewest lines through nodes."""
    tries = []
    for widen in range(7):
        for far in (False, True):  # the delays, where none has a clear place near, further out
            layout = _rolled(desc, _ROLLED_GAP * (1 + widen / 2), ROW_GAP + 24 * widen, far)
            tries.append((len(layout.conflicts), _through_nodes(layout), _on_top(layout), layout))
            if tries[-1][:3] == (0, 0, 0):
                return layout
    # the first with the fewest misplaced labels, then lines through a node, then lines on top of each other
    return min(tries, key=lambda t: t[:3])[3]


def _through_nodes(layout: Layout) -> int:
    """How many pieces of lines cross a node that is not their own end (the text a reader
    would see struck through)."""
    nodes = [it for it in layout.items.values() if it.kind in ("tensor", "cost")]
    return sum(1 for line in layout.lines for a, b in layout.segments(line) for it in nodes
               if it.id not in (line.ids[0], line.ids[-1]) and it.rect.crossed_by(a, b))  # fmt: skip


def _on_top(layout: Layout) -> int:
    """How many pairs of pieces of two lines run 4 pt or more on top of each other."""
    pieces = [(j, seg) for j, line in enumerate(layout.lines) for seg in layout.segments(line)]
    return sum(1 for n, (j, p) in enumerate(pieces) for k, q in pieces[n + 1:]
               if j != k and overlap(*p, *q) >= 4)  # fmt: skip


def _rolled(desc: Description, gap: float, row_gap: float, far: bool = False) -> Layout:
    of_role: dict[object, str] = {}
    members: dict[str, list[Node]] = {}
    for n in desc.nodes:
        if n.kind == PARAMETER or not n.drawn:  # (describe_roles keeps the outputs the cost reads, undrawn)
            continue
        rk = "cost" if n.kind == COST else of_role.setdefault(n.role, f"r{len(of_role)}")
        members.setdefault(rk, []).append(n)
    role_of = {n.key: k for k, ns in members.items() for n in ns}
    count = {k: sum(desc.weights.get(n.key, 1) for n in ns) for k, ns in members.items()}
    pairs = _pairs_by_role(desc, members)
    links: dict[tuple[str, str], list[Edge]] = {}
    params: dict[tuple[str, str], list[str]] = {}  # (src role, dst role) -> parameter keys acting on it
    stubs: dict[str, list[str]] = {}  # role -> parameters with a stub into it
    for e in desc.edges:
        if desc.node(e.src).kind == PARAMETER:
            if e.dst in role_of and not any(e.src in ps for ps in pairs.get(e.dst, {}).values()):
                _add_once(stubs.setdefault(role_of[e.dst], []), e.src)
            continue
        if e.src not in role_of or e.dst not in role_of:
            continue
        a, b = role_of[e.src], role_of[e.dst]
        if a == b == "cost":
            continue
        links.setdefault((a, b), []).append(e)
        for p in pairs.get(e.dst, {}).get(e.index, []):
            _add_once(params.setdefault((a, b), []), p)
    qualified = param_names(desc, qualified=True)  # one picture for all steps: full names, numbered if need be
    reach = _reachable(list(members), list(links))
    # a delay where a loop of roles closes across steps: h(t-1) -> h(t), o(t-1) -> h(t)
    recurrent = {
        (a, b) for (a, b), edges in links.items()
        if a in reach[b] and any(_crosses_steps(desc, e) for e in edges)
    }  # fmt: skip
    # rows: longest path over the lines that are not recurrences, leaves just below their reader
    level: dict[str, int] = {}
    for k in members:  # first-appearance order is topological for the acyclic part
        ins = [level[a] + 1 for (a, b) in links if b == k and (a, b) not in recurrent and a in level]
        level[k] = max(ins, default=0)
    for k in members:
        if not any(b == k for (_, b) in links):
            readers = [level[b] for (a, b) in links if a == k and (a, b) not in recurrent]
            level[k] = max(0, min(readers) - 1) if readers else 0
    items: dict[str, Item] = {}
    for k, ns in members.items():
        lines = cost_lines(desc, False, False)[:1] if k == "cost" else _role_lines(ns[0], count[k], desc)
        w, h = text.box(lines, NODE_FONT)
        items[k] = Item(k, "cost" if k == "cost" else "tensor", Rect(0, 0, max(w + 16, 34), h + 10), lines,
                        key=desc.roots[0] if k == "cost" else ns[0].key)  # fmt: skip
    n_rows = max(level.values(), default=0) + 1
    y = 0.0
    placed: set[str] = set()
    for r in range(n_rows - 1, -1, -1):  # top down: a row sits under the roles that read it
        row = [k for k in members if level[k] == r]
        readers = {k: [items[b].rect.cx for (a, b) in links if a == k and b in placed and b != k] for k in row}
        centre = {k: sum(xs) / len(xs) if xs else 0.0 for k, xs in readers.items()}
        row.sort(key=lambda k: centre[k])  # stable: ties keep first-appearance order
        hmax = max((items[k].rect.h for k in row), default=0.0)
        widths = sum(items[k].rect.w for k in row) + gap * (len(row) - 1)
        x = sum(centre.values()) / len(row) - widths / 2 if row else 0.0
        for k in row:
            items[k].rect.cx = x + items[k].rect.w / 2
            x += items[k].rect.w + gap
        fans = [(items[k].rect.cx, [items[b].rect for (a, b) in links if a == k and b in placed and b != k
                                    and (a, b) not in recurrent]) for k in row]  # fmt: skip
        y += _fan_room(fans, y + hmax / 2)
        placed.update(row)
        for k in row:
            items[k].rect.cy = y + hmax / 2
        y += hmax + row_gap
    layout = Layout(items, [], {}, [])
    texts: list[tuple[Line, list[str]]] = []
    # the delays first, so that a line routed round the nodes goes round their squares too
    delays = {}
    # (each delay sees the ones before it, as _delay keeps off their squares and lines; the loops
    # h -> h first, whose squares have a fixed place beside their node)
    order = sorted(enumerate(links.items()), key=lambda item: item[1][0][0] != item[1][0][1])
    for i, ((a, b), edges) in order:
        if (a, b) in recurrent:
            # a loop h -> h on the side of ``a`` fewer of its other lines come from or go to
            ends = [items[o].rect.cx - items[a].rect.cx for x, y in links if x != y and a in (x, y)
                    for o in (x, y) if o != a]  # fmt: skip
            left = a == b and sum(d > 0 for d in ends) > sum(d < 0 for d in ends)
            delays[(a, b)] = _delay(layout, a, b, i, far, left)
            layout.lines.append(Line(delays[(a, b)], "recurrent", edges[0]))
    layout.lines.clear()  # drawn below, in the links' order
    for (a, b), edges in links.items():
        ids = delays[(a, b)] if (a, b) in recurrent else _route(layout, a, b, None)
        line = Line(ids, "recurrent" if (a, b) in recurrent else "data", edges[0])
        layout.lines.append(line)
        names = [qualified[p] for p in params.get((a, b), [])]
        n_edges = sum(desc.link_weights.get((e.src, e.dst, e.index), 1) for e in edges)
        label = " ".join(names + ([f"×{n_edges}"] if n_edges > 1 else []))
        if label:
            texts.append((line, [label]))
    for k, ps in stubs.items():
        for p in ps:
            line = Line([stub_point(layout, f"stub_{p}_{k}", k), k], "stub", param=p)
            layout.lines.append(line)
            texts.append((line, [qualified[p]]))
    _part_ends(layout)
    segments = [(line, seg) for line in layout.lines for seg in layout.segments(line)]
    taken = [it.rect for it in items.values() if it.kind in ("tensor", "cost", "delay")]
    for j, (line, lines) in enumerate(texts):
        w, h = text.box(lines, LABEL_FONT)
        pieces = layout.segments(line)
        if line.role == "recurrent":  # beside the delay square
            square = next(items[i].rect for i in line.ids if items[i].kind == "delay")
            seg = ((square.cx, square.cy - square.h / 2 - 2), (square.cx, square.cy + square.h / 2 + 2))
        else:
            seg = pieces[-1]
        spot = _free_spot(seg, w, h, None, taken, segments)
        if spot is None and seg != pieces[-1]:  # no room by the delay square: along the line into its node
            spot = _free_spot(pieces[-1], w, h, None, taken, segments)
        if spot is None:
            layout.conflicts.append(f"{lines[0]} on {line.ids}")
            spot = _candidates(seg, w, h)[0]
        items[f"label{j}"] = Item(f"label{j}", "label", spot, lines, font=LABEL_FONT)
        taken.append(spot)
    return layout


def _fan_room(fans: list[tuple[float, list[Rect]]], y: float) -> float:
    """How much lower than ``y`` a row must go so that the lines from each of its nodes (at x)
    up to its readers leave at angles at least 3 degrees apart: a tensor that feeds a whole row
    of gates (x in a bidirectional LSTM) fans out rather than drawing its lines on top of each
    other."""
    def close(extra: float) -> int:  # pairs of lines less than 3 degrees apart
        return sum(abs(math.atan2(y + extra - p.cy, p.cx - cx) - math.atan2(y + extra - q.cy, q.cx - cx))
                   < math.radians(3) for cx, readers in fans for i, p in enumerate(readers) for q in readers[i + 1:])

    # the least room that parts the most pairs (readers one above the other never part: their
    # lines are bent round each other anyway), at most four rows' worth
    counts = [(close(extra), extra) for extra in range(0, 161, 20)]
    return float(min(counts)[1])


def _pairs_by_role(desc: Description, members: dict[str, list[Node]]) -> dict[str, dict[int, list[str]]]:
    """``_pairs`` of every op, worked out once per role: a role's tensors pair their inputs alike."""
    out: dict[str, dict[int, list[str]]] = {}
    for ns in members.values():
        if ns[0].kind != OP:
            continue
        first = _pairs(desc, ns[0])
        for n in ns:
            out[n.key] = first
    return out


def _crosses_steps(desc: Description, e: Edge) -> bool:
    if desc.weights:  # folded by describe_roles, which recorded the crossings
        return (e.src, e.dst, e.index) in desc.crossing
    s, d = desc.node(e.src).step, desc.node(e.dst).step
    return s is not None and d is not None and s < d


def _add_once(xs: list[str], x: str) -> None:
    if x not in xs:
        xs.append(x)


def _reachable(nodes: list[str], links: list[tuple[str, str]]) -> dict[str, set[str]]:
    """Per node, every node reachable from it (iteratively: no recursion)."""
    out: dict[str, list[str]] = {}
    for a, b in links:
        out.setdefault(a, []).append(b)
    reach = {}
    for start in nodes:
        seen: set[str] = set()
        stack = list(out.get(start, []))
        while stack:
            k = stack.pop()
            if k not in seen:
                seen.add(k)
                stack.extend(out.get(k, []))
        reach[start] = seen
    return reach


def _role_lines(n: Node, count: int, desc: Description) -> list[str]:
    name = n.name or (display_name(n, desc) if n.kind == OP else "const")
    return [name, shape_text(n.shape) + (f" ×{count}" if count > 1 else "")]


def _delay(layout: Layout, a: str, b: str, i: int, far: bool = False, left: bool = False) -> list[str]:
    """Points of a recurrence through a one-step delay marker: a loop out of the node's right
    side (``left``: its left side) and back (h → h), or a line round the left of both nodes
    (o → h). ``far``: where no place near both nodes is clear, places further out and at more
    heights are tried too."""
    items = layout.items
    ra, rb = items[a].rect, items[b].rect
    delay = f"delay{i}"
    if a == b:
        out, back = f"delay{i}_out", f"delay{i}_in"
        x, sign = (ra.left, -1) if left else (ra.right, 1)
        items[out] = Item(out, "point", Rect(x + 22 * sign, ra.cy - ra.h / 2 - 12, 0, 0))
        items[delay] = Item(delay, "delay", Rect(x + 46 * sign, ra.cy, 9, 9))
        items[back] = Item(back, "point", Rect(x + 22 * sign, ra.cy + ra.h / 2 + 12, 0, 0))
        return [a, out, delay, back, b]
    others = [it.rect for it in items.values() if it.kind in ("tensor", "cost", "delay") and it.id not in (a, b)]
    spots = [
        (x, y)
        for k in range(6)
        for x in (min(ra.left, rb.left) - 40 - 30 * k, max(ra.right, rb.right) + 40 + 30 * k)
        for y in ((ra.cy + rb.cy) / 2, ra.cy, rb.cy)
    ]
    spots += [
        (x, y)
        for k in (range(6, 16) if far else ())
        for x in (min(ra.left, rb.left) - 40 - 30 * k, max(ra.right, rb.right) + 40 + 30 * k)
        for y in (ra.cy, rb.cy, *(ra.cy + (rb.cy - ra.cy) * f for f in (0.25, 0.5, 0.75)))
    ]
    # the delays and loops already at ``a`` or ``b``: a new line must not run on their lines
    near = [(items[end].rect, items[ids[k + step]].rect) for ids in (line.ids for line in layout.lines)
            for end in (a, b) for k, step in ((0, 1), (-1, -1)) if ids[k] == end]  # fmt: skip

    def along(end: Rect, x: float, y: float, d: Rect) -> bool:  # within 3 degrees, the same way
        return abs(math.remainder(math.atan2(y - end.cy, x - end.cx) - math.atan2(d.cy - end.cy, d.cx - end.cx),
                                  math.tau)) < math.radians(3)  # fmt: skip

    squares = [it.rect for it in items.values() if it.kind == "delay"]
    drawn = [seg for line in layout.lines for seg in layout.segments(line)]  # the delays placed before

    def clear(x: float, y: float) -> bool:  # both lines keep clear of the other nodes, the square of the others
        return not any(r.crossed_by((ra.cx, ra.cy), (x, y)) or r.crossed_by((x, y), (rb.cx, rb.cy)) for r in others) \
            and not any(abs(x - r.cx) < 14 and abs(y - r.cy) < 14 for r in squares) \
            and not any(Rect(x, y, 17, 17).crossed_by(*seg) for seg in drawn)  # nor its square on their lines

    # the first clear place off the other delays' lines, else the first clear one
    clear_spots = [p for p in spots if clear(*p)] or spots[:1]
    x, y = next((p for p in clear_spots if not any(along(end, *p, d) for end, d in near)), clear_spots[0])
    items[delay] = Item(delay, "delay", Rect(x, y, 9, 9))
    return [a, delay, b]
