"""Draw a recorded graph: forward, backward and rolled views, as ``graphviz.Digraph``.

Layout (Goodfellow fig. 10.3, Geron fig. 14-5): time runs left to right, one cluster per step
labelled ``t = k``; inside a step, data flows bottom to top (inputs x(t), hidden state,
outputs, the step's cost). Time is Graphviz's rank axis (``rankdir=LR``, one rank per step), so
the steps come out in order whatever the graph looks like; inside a step the edges ask for the
bottom-to-top order, which dot keeps once its final crossing pass is off (``remincross=false``).
Each shared parameter is drawn once, left of the first step that uses it, with a line running
along the steps and a branch into each step that uses it. The backward view has the same nodes and edges
in the same order (so the same layout); only the styling changes: solid edges pointing the way
the gradient flows, colours by gradient norm on a log scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import graphviz

from tinygrad_rnn import Tensor
from tinygrad_rnn.errors import TinygradRNNError

from .graph import CONSTANT, INPUT, OP, PARAMETER, Description, Edge, Node, describe

VIEWS = ("forward", "backward", "rolled")
_SYMBOLS = {"add": "+", "sub": "−", "mul": "×", "div": "÷", "matmul": "@", "neg": "−", "pow": "^"}
# Small gradients blue, large ones red (log scale); no colour so pale that a line of it vanishes on white.
_PALETTE = ["#313695", "#4575b4", "#74add1", "#f46d43", "#d73027", "#a50026"]
_DARK = {"#313695", "#4575b4", "#d73027", "#a50026"}  # white text on these
_NO_GRAD = "#e6e6e6"
_NON_FINITE = "#ff4fd8"  # inf or NaN: outside the scale, in a colour of its own
_PARAM_COLOUR = "#b08d00"
_FONT = "Helvetica"
ELISION = "elided"


class VizError(TinygradRNNError, ValueError):
    """A diagram that cannot be drawn as asked (too large, unknown view, no gradients yet)."""


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` that shows itself as SVG in a notebook even without Graphviz
    installed (in-process WebAssembly renderer as fallback)."""

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, str]:
        from .render import to_svg

        return {"image/svg+xml": to_svg(self.source)}


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.2e}"


def _colour(norm: float | None, lo: float, hi: float) -> str:
    """Palette colour of log10(norm) placed between log10(lo) and log10(hi)."""
    if norm is None:
        return _NO_GRAD
    if not math.isfinite(norm):
        return _NON_FINITE
    if norm <= 0 or hi <= lo:
        return _PALETTE[0] if norm <= 0 else _PALETTE[-1]
    f = (math.log10(norm) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    return _PALETTE[min(len(_PALETTE) - 1, max(0, int(f * len(_PALETTE))))]


def _text_colour(fill: str) -> str:
    return "white" if fill in _DARK else "black"


def _shape_text(shape: tuple[int, ...]) -> str:
    if not shape:
        return "scalar"
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _param_name(n: Node) -> str:
    return n.name or "param"


def _is_symbol(n: Node) -> bool:
    return n.kind == OP and n.name is None and n.op in _SYMBOLS


def _lines(n: Node, backward: bool, values: bool, total: float | None, accumulated: str = "") -> list[str]:
    """The label's lines. Both views give a node the same number of lines, so it has the same
    size in both and the layouts coincide. ``accumulated`` follows a parameter's total when its
    ``.grad`` also holds earlier backward passes."""
    if _is_symbol(n):
        return [_SYMBOLS[n.op or ""]]
    if n.kind == CONSTANT and (len(n.shape) == 0 or n.value.startswith("[")):
        return [n.value]
    head = f"{n.name} = {n.op}" if n.kind == OP and n.name else (n.name or n.op or "const")
    lines = [head, _shape_text(n.shape)]
    if values:
        lines.append(n.value)
    if n.kind == CONSTANT:
        return lines
    if n.kind == PARAMETER:
        name = _param_name(n)
        lines.append(f"‖∂L/∂{name}‖ = {_fmt(total)}{accumulated}" if backward else f"‖{name}‖ = {_fmt(n.norm)}")
    elif n.kind == INPUT:
        lines.append(f"‖{n.name}‖ = {_fmt(n.norm)}")
    else:
        lines.append(f"‖∇‖ = {_fmt(n.grad_norm)}" if backward else f"‖·‖ = {_fmt(n.norm)}")
    return lines


def _node_attrs(
    n: Node, backward: bool, values: bool, lo: float, hi: float, total: float | None, accumulated: str = ""
) -> dict[str, str]:
    lines = _lines(n, backward, values, total, accumulated)
    widest = max(len(line) for view in (False, True) for line in _lines(n, view, values, total, accumulated))
    attrs = {"label": "\n".join(lines), "fontname": _FONT}
    if not _is_symbol(n) and n.kind != CONSTANT:
        attrs["width"] = f"{0.35 + 0.105 * widest:.2f}"  # the wider of the two views' labels
    if n.kind == PARAMETER:
        attrs |= {"shape": "box", "style": "filled,bold", "penwidth": "2", "fillcolor": "#fff3b0"}
    elif n.kind == INPUT:
        attrs |= {"shape": "box", "style": "filled", "fillcolor": "#f2f2f2"}
    elif n.kind == CONSTANT:
        attrs |= {"shape": "plaintext", "fontsize": "10"}
    elif _is_symbol(n):
        attrs |= {"shape": "circle", "style": "filled", "fillcolor": "white", "fontsize": "11"}
        attrs |= {"width": "0.3", "height": "0.3", "margin": "0.02"}
    elif n.name is None:
        attrs |= {"shape": "box", "style": "rounded,filled", "fillcolor": "white", "fontsize": "10"}
        attrs |= {"height": "0.3", "margin": "0.05,0.02"}
    else:
        attrs |= {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe9f6"}
    if backward and n.kind in (PARAMETER, OP):
        norm = total if n.kind == PARAMETER else n.grad_norm
        fill = _colour(norm, lo, hi)
        attrs["fillcolor"] = fill
        attrs["fontcolor"] = _text_colour(fill) if norm is not None else "#999999"
        if norm is None:
            attrs["color"] = "#bbbbbb"
    return attrs


def _range(desc: Description, nodes: list[Node]) -> tuple[float, float, bool]:
    """The smallest and largest positive finite gradient norm (the colour scale), and whether
    any norm is inf or NaN (the legend then shows their colour too)."""
    norms = [n.grad_norm for n in nodes] + list(desc.totals.values()) + [e.grad_norm for e in desc.edges]
    finite = [v for v in norms if v is not None and math.isfinite(v) and v > 0]
    non_finite = any(v is not None and not math.isfinite(v) for v in norms)
    return (min(finite), max(finite), non_finite) if finite else (1.0, 1.0, non_finite)


def _placement(desc: Description) -> dict[str, int | None]:
    """The step each node is drawn in: its own; for an untagged input or constant (targets made
    before the loop) the one step that uses it; None (outside the clusters) for parameters,
    inputs several steps read, untagged ops, and initial states such as h(0): untagged inputs
    fed where later steps take the previous step's output, drawn left of the first step."""
    users: dict[str, set[int]] = {}
    recurrent_slots = set()  # (role, input index) that later steps fill from an earlier step
    for e in desc.edges:
        src, dst = desc.node(e.src), desc.node(e.dst)
        if dst.step is not None:
            users.setdefault(e.src, set()).add(dst.step)
            if src.step is not None and src.step < dst.step and src.kind != PARAMETER:
                recurrent_slots.add((dst.role.split("#")[0], e.index))
    initial = {e.src for e in desc.edges if (desc.node(e.dst).role.split("#")[0], e.index) in recurrent_slots}
    place: dict[str, int | None] = {}
    for n in desc.nodes:
        if n.kind == PARAMETER or (n.step is None and n.key in initial):
            place[n.key] = None
        elif n.step is not None or n.kind == OP or len(users.get(n.key, ())) != 1:
            place[n.key] = n.step
        else:
            place[n.key] = min(users[n.key])
    return place


def _elide(desc: Description, place: dict[str, int | None], max_steps: int | None) -> tuple[list[Node], int]:
    """The nodes to draw and how many steps are folded into the elision node."""
    steps = desc.steps
    if max_steps is None or len(steps) <= max_steps:
        return desc.nodes, 0
    if max_steps < 2:
        raise VizError(f"max_steps must be at least 2 (the first and the last step), got {max_steps}")
    head = max_steps // 2
    shown = set(steps[:head]) | set(steps[len(steps) - (max_steps - head) :])
    kept = {n.key for n in desc.nodes if place[n.key] in shown or (place[n.key] is None and n.kind in (PARAMETER, OP))}
    # untagged leaves outside the clusters stay if a drawn node uses them
    kept |= {e.src for e in desc.edges if e.dst in kept and place[e.src] is None}
    return [n for n in desc.nodes if n.key in kept], len(steps) - len(shown)


def _check_size(n_nodes: int, max_nodes: int, n_steps: int) -> None:
    if n_nodes > max_nodes:
        raise VizError(
            f"viz: the diagram would have {n_nodes} nodes (more than max_nodes={max_nodes}) over {n_steps} "
            "time steps; draw fewer steps with max_steps=8 (first and last steps, the rest elided), or raise "
            "max_nodes if you really want it all."
        )


def draw(
    roots: Tensor | Sequence[Tensor],
    view: str = "forward",
    *,
    max_steps: int | None = 12,
    values: bool = False,
    max_nodes: int = 3000,
    legend: bool = True,
) -> Diagram:
    """Draw the graph that ``roots`` were computed from.

    Parameters
    ----------
    roots : Tensor or list of Tensor
        The loss; add outputs that are not in the cost (e.g. ``[loss, *outputs]``) to see them
        greyed out in the backward view.
    view : "forward", "backward" or "rolled"
        forward: the unrolled graph, dashed arrows in the direction of computation.
        backward: the same layout after ``loss.backward()``: solid arrows the way the gradient
        flows, each tensor coloured by its gradient norm, each shared parameter's line marked at
        every step with that step's contribution ‖∂L/∂W(t)‖, and the parameter with its total
        ‖∂L/∂W‖ (the norm of ``.grad``).
        rolled: the folded circuit, one node per role and a one-step delay (■) on recurrent edges.
    max_steps : int or None
        Longer unrolls show the first and last steps with "… k steps …" between (None: all).
    values : bool
        Also print each tensor's values (or their mean and spread).
    max_nodes : int
        Refuse (with advice) to lay out more nodes than this.
    legend : bool
        Add the colour key of gradient norms (the backward view's; an invisible twin in the
        forward view keeps the layouts identical).
    """
    if view not in VIEWS:
        raise VizError(f"viz.draw: view must be one of {', '.join(VIEWS)}; got {view!r}")
    desc = describe(roots)
    if view == "rolled":
        return _draw_rolled(desc)
    backward = view == "backward"
    if backward and all(n.grad_norm is None for n in desc.nodes):
        raise VizError("viz.draw(view='backward'): no gradients recorded yet; call loss.backward() first")
    place = _placement(desc)
    nodes, elided = _elide(desc, place, max_steps)
    _check_size(len(nodes), max_nodes, len(desc.steps))
    keep = {n.key for n in nodes}
    lo, hi, non_finite = _range(desc, nodes)

    g = Diagram(name=view, graph_attr=_graph_attrs(f"{view} pass", "LR"))
    by_step: dict[int | None, list[Node]] = {}
    for n in nodes:
        by_step.setdefault(place[n.key], []).append(n)
    ordered = sorted(s for s in by_step if s is not None)
    for s in ordered:
        with g.subgraph(name=f"cluster_t{s}") as c:
            # one rank per step: time is dot's rank axis, so it runs left to right whatever the graph
            c.attr(label=f"t = {s}", rank="same", style="rounded", color="#999999", fontname=_FONT)
            for n in by_step[s]:
                c.node(n.key, **_node_attrs(n, backward, values, lo, hi, desc.totals.get(n.key)))
    for n in by_step.get(None, []):
        note = " (with earlier passes)" if n.key in desc.accumulated else ""
        g.node(n.key, **_node_attrs(n, backward, values, lo, hi, desc.totals.get(n.key), note))
    _time_axis(g, ordered, by_step, elided, desc.steps)
    _edges(g, desc, place, keep, backward, lo, hi)
    if elided:
        _elision_edges(g, desc, keep, backward)
    if legend and nodes:  # right of the last step (or of the last node, in a graph without steps)
        after = by_step[ordered[-1]][0].key if ordered else nodes[-1].key
        _legend(g, lo, hi, visible=backward, after=after, non_finite=non_finite)
    return g


def _edges(
    g: graphviz.Digraph,
    desc: Description,
    place: dict[str, int | None],
    keep: set[str],
    backward: bool,
    lo: float,
    hi: float,
) -> None:
    """Every drawn edge: a parameter's (or an input several steps read) along its line, the
    rest directly, h(t-1) -> h(t) (and h(0) -> the first h) weighted so that the rows line up."""
    reads: dict[str, set[int | None]] = {}  # per node outside the steps: the steps that read it
    for e in desc.edges:
        if place[e.src] is None and place[e.dst] is not None:
            reads.setdefault(e.src, set()).add(place[e.dst])
    branches: dict[str, list[Edge]] = {}
    for e in desc.edges:
        if e.src not in keep or e.dst not in keep:
            continue
        src = desc.node(e.src)
        shared = place[e.src] is None and (src.kind == PARAMETER or (src.kind != OP and len(reads.get(e.src, ())) > 1))
        if shared and place[e.dst] is not None:
            branches.setdefault(e.src, []).append(e)
        else:
            same_role = place[e.src] is None or src.role == desc.node(e.dst).role
            across = same_role and place[e.dst] is not None and place[e.src] != place[e.dst]
            _edge(g, e, desc, backward, lo, hi, across=across)
    for key, edges in branches.items():
        _bus(g, desc, key, edges, place, backward, lo, hi)


def _graph_attrs(title: str, rankdir: str) -> dict[str, str]:
    return {
        "rankdir": rankdir,
        "newrank": "true",
        # dot's last crossing pass ignores the order within a rank that the edges inside a step ask
        # for (x(t) under h(t) under o(t)); without it, every step keeps that order
        "remincross": "false",
        "nodesep": "0.3",
        "ranksep": "0.6",
        "fontname": _FONT,
        "label": title,
        "labelloc": "b",  # below the drawing: the nodes keep the same coordinates in every view
    }


def _time_axis(
    g: graphviz.Digraph, ordered: list[int], by_step: dict[int | None, list[Node]], elided: int, steps: list[int]
) -> None:
    """Invisible edges from each step to the next (through the elision node, if any), so that
    consecutive steps take consecutive ranks even when no data flows from one to the next.
    Steps need not be consecutive numbers; the elision is where drawn steps skip recorded ones."""
    position = {s: i for i, s in enumerate(steps)}
    for s, s2 in zip(ordered, ordered[1:], strict=False):
        a, b = by_step[s][0].key, by_step[s2][0].key
        if elided and position[s2] - position[s] > 1:
            g.node(ELISION, label=f"… {elided} steps …", shape="plaintext", fontname=_FONT, fontsize="16")
            g.edge(a, ELISION, style="invis", weight="0")
            g.edge(ELISION, b, style="invis", weight="0")
        else:
            g.edge(a, b, style="invis", weight="0")


def _edge(
    g: graphviz.Digraph,
    e: Edge,
    desc: Description,
    backward: bool,
    lo: float,
    hi: float,
    tail: str | None = None,
    across: bool = False,
) -> None:
    """One edge of the recorded graph (from ``tail`` instead of its source: a parameter's
    junction), declared the same way in both views, so both have the same layout. An edge
    ``across`` two steps between tensors of one role (h(t-1) -> h(t)) weighs more, so dot draws
    it straight and the rows of consecutive steps line up."""
    src = desc.node(e.src)
    attrs: dict[str, str] = {"arrowsize": "0.6"} | ({"weight": "8"} if across else {})
    if src.kind == PARAMETER:
        attrs["color"] = _PARAM_COLOUR
    if not backward:
        attrs["style"] = "dashed"
    elif e.grad_norm is None:
        attrs |= {"dir": "back", "style": "dotted", "color": "#cccccc", "arrowhead": "none", "arrowtail": "none"}
    else:
        # dir=back: the arrowhead at the input's end, the way the gradient flows
        attrs |= {"dir": "back", "style": "solid", "color": _colour(e.grad_norm, lo, hi), "penwidth": "1.6"}
    g.edge(tail or e.src, e.dst, **attrs)


def _bus(
    g: graphviz.Digraph,
    desc: Description,
    key: str,
    edges: list[Edge],
    place: dict[str, int | None],
    backward: bool,
    lo: float,
    hi: float,
) -> None:
    """A shared tensor's line along the steps: a junction (•) at each step that uses it, joined
    in time order, and from each junction the edges of the recorded graph into that step.

    One line instead of one long edge per step keeps a parameter shared by T steps readable.
    The junction is labelled with the parameter's name (forward) or with that step's share of
    its gradient, ‖∂L/∂W(t)‖ (backward); in the backward view the line points back to the
    parameter, where the steps' shares add up.
    """
    node = desc.node(key)
    colour = _PARAM_COLOUR if node.kind == PARAMETER else "#888888"
    line = {"color": colour, "arrowhead": "none", "penwidth": "1.2", "style": "dashed"}
    if backward:
        line |= {"style": "solid", "dir": "back", "arrowtail": "normal" if node.kind == PARAMETER else "none"}
        line |= {"arrowsize": "0.5"}
    prev = key
    for s in sorted({place[e.dst] for e in edges}):  # type: ignore[type-var]
        junction = f"{key}_t{s}"
        share = desc.contributions.get((key, s))
        text = f"‖∂L/∂{_param_name(node)}({s})‖ = {_fmt(share)}" if share is not None else ""
        # an xlabel is placed after layout, so the two views keep the same positions
        g.node(junction, label="", xlabel=text if backward else (node.name or ""), shape="point", width="0.05",
               color=colour, fontname=_FONT, fontsize="9", fontcolor="#6b5600")  # fmt: skip
        g.edge(prev, junction, **line)
        prev = junction
    for e in edges:
        _edge(g, e, desc, backward, lo, hi, tail=f"{key}_t{place[e.dst]}")


def _elision_edges(g: graphviz.Digraph, desc: Description, keep: set[str], backward: bool) -> None:
    """Dotted edges for what flows into and out of the elided steps (once per drawn node),
    pointing back in the backward view."""
    pairs: dict[tuple[str, str], None] = {}
    for e in desc.edges:
        if desc.node(e.src).kind != PARAMETER and (e.src in keep) != (e.dst in keep):
            pairs[(e.src, ELISION) if e.src in keep else (ELISION, e.dst)] = None
    for a, b in pairs:
        g.edge(a, b, style="dotted", color="#999999", weight="8", **({"dir": "back"} if backward else {}))


def _legend(g: graphviz.Digraph, lo: float, hi: float, visible: bool, after: str, non_finite: bool = False) -> None:
    """Colour key: a column right of the last step, one swatch per colour (small gradients at the
    bottom) marked with the gradient norm where it starts, on a log scale.

    Both views carry it, invisible in the forward one, so that it takes the same room in both
    and every node sits at the same place in the two drawings.
    """
    span = math.log10(hi) - math.log10(lo) if hi > lo else 0.0
    common = {"fontname": _FONT, "fontsize": "10", "height": "0.3"} | ({} if visible else {"style": "invis"})
    keys = []
    with g.subgraph(name="cluster_legend") as c:
        c.attr(rank="same", label="", style="rounded" if visible else "invis", color="#999999")
        for i, colour in enumerate([_NO_GRAD, *_PALETTE, *([_NON_FINITE] if non_finite else [])]):
            start = 10 ** (math.log10(lo) + span * (i - 1) / len(_PALETTE))
            text = {_NO_GRAD: "no gradient", _NON_FINITE: "inf or NaN"}.get(colour, f"≥ {start:.1e}")
            swatch = {"label": text, "shape": "box", "style": "filled", "fillcolor": colour, "color": "white"}
            c.node(f"legend{i}", **(swatch | {"fontcolor": _text_colour(colour), "width": "1", "fixedsize": "true"}
                                    | common))  # fmt: skip
            keys.append(f"legend{i}")
        c.node("legend", label="‖gradient‖\n(log scale)", shape="plaintext", **common)
        keys.append("legend")
        for a, b in zip(keys, keys[1:], strict=False):
            c.edge(a, b, style="invis")  # one rank, in this order from the bottom (as inside a step)
    g.edge(after, keys[0], style="invis", weight="0")


def _draw_rolled(desc: Description) -> Diagram:
    """The folded circuit: tensors that play the same part at every step become one node;
    edges from one step to the next pass through a one-step delay (■) marker."""
    g = Diagram(name="rolled", graph_attr=_graph_attrs("rolled (folded) view", "BT"))
    role_nodes: dict[str, Node] = {}
    counts: dict[str, int] = {}
    for n in desc.nodes:
        role_nodes.setdefault(n.role, n)
        counts[n.role] = counts.get(n.role, 0) + 1
    role_key = {role: f"r{i}" for i, role in enumerate(role_nodes)}
    for role, n in role_nodes.items():
        attrs = _node_attrs(n, False, False, 1.0, 1.0, None)
        if n.kind == CONSTANT and counts[role] > 1:  # one value per step: show what it is, not the first one
            lines = ["const", _shape_text(n.shape)]
        else:
            lines = _lines(n, False, False, None)[:2]  # name and shape: the values differ from step to step
        attrs["label"] = "\n".join(lines + ([f"×{counts[role]}"] if counts[role] > 1 else []))
        g.node(role_key[role], **attrs)
    of = {n.key: n for n in desc.nodes}
    links: dict[tuple[str, str, bool], int] = {}
    for e in desc.edges:
        s, d = of[e.src], of[e.dst]
        recurrent = s.kind != PARAMETER and s.step is not None and d.step is not None and s.step < d.step
        link = (s.role, d.role, recurrent)
        links[link] = links.get(link, 0) + 1
    for i, ((src, dst, recurrent), count) in enumerate(links.items()):
        label = {"label": f"×{count}", "fontsize": "9", "fontname": _FONT} if count > 1 else {}
        if recurrent:
            # the delay sits beside the node it feeds, so the recurrence reads as a loop through it
            delay = f"delay{i}"
            with g.subgraph() as beside:
                beside.attr(rank="same")
                beside.node(delay, label="", shape="square", style="filled", fillcolor="black", width="0.15",
                            height="0.15")  # fmt: skip
                beside.node(role_key[dst])
            # a tensor feeding itself a step later (h): a loop on its right through the delay
            loop = src == dst
            out, back = ({"tailport": "ne", "headport": "n"}, {"tailport": "s", "headport": "se"}) if loop else ({}, {})
            g.edge(role_key[src], delay, arrowhead="none", **label, **out)
            g.edge(delay, role_key[dst], **back)
        else:
            g.edge(role_key[src], role_key[dst], **label)
    return g
