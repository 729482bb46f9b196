"""Draw a recorded graph: forward, backward and rolled views, as ``graphviz.Digraph``.

Layout (Goodfellow fig. 10.3, Geron fig. 14-5): time runs left to right, one cluster per step
labelled ``t = k``; inside a step, data flows bottom to top (inputs x(t), hidden state,
outputs, the step's cost). Each shared parameter is drawn once, outside the clusters, with an
edge into every step that uses it. Edges that cross from one step to the next do not constrain
the ranking, so the rows line up across steps, and a graph of T steps lays out in time linear
in T. The backward view has the same nodes and edges in the same order (so the same layout);
only the styling changes: solid edges pointing the way the gradient flows, colours by
gradient norm on a log scale.
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
# Light to dark: small gradients pale blue, large ones deep red (log scale).
_PALETTE = ["#4575b4", "#91bfdb", "#e0f3f8", "#fee090", "#fc8d59", "#d73027"]
_NO_GRAD = "#e6e6e6"
_FONT = "Helvetica"


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
    if norm <= 0 or hi <= lo:
        return _PALETTE[0] if norm <= 0 else _PALETTE[-1]
    f = (math.log10(norm) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))
    return _PALETTE[min(len(_PALETTE) - 1, max(0, int(f * len(_PALETTE))))]


def _text_colour(fill: str) -> str:
    return "white" if fill in (_PALETTE[0], _PALETTE[-1]) else "black"


def _shape_text(shape: tuple[int, ...]) -> str:
    if not shape:
        return "scalar"
    return "(" + ", ".join(map(str, shape)) + (",)" if len(shape) == 1 else ")")


def _is_symbol(n: Node) -> bool:
    return n.kind == OP and n.name is None and n.op in _SYMBOLS


def _lines(n: Node, backward: bool, values: bool, total: float | None) -> list[str]:
    """The label's lines. Both views give a node the same number of lines, so it has the same
    size in both and the layouts coincide."""
    if _is_symbol(n):
        return [_SYMBOLS[n.op or ""]]
    if n.kind == CONSTANT and (len(n.shape) == 0 or n.value.startswith("[")):
        return [n.value]
    head = f"{n.name} = {n.op}" if n.kind == OP and n.name else (n.name or n.op or "")
    lines = [head, _shape_text(n.shape)]
    if values:
        lines.append(n.value)
    if n.kind == CONSTANT:
        return lines
    if n.kind == PARAMETER:
        lines.append(f"‖∂L/∂{n.name}‖ = {_fmt(total)}" if backward else f"‖{n.name}‖ = {_fmt(n.norm)}")
    elif n.kind == INPUT:
        lines.append(f"‖{n.name}‖ = {_fmt(n.norm)}")
    else:
        lines.append(f"‖∇‖ = {_fmt(n.grad_norm)}" if backward else f"‖·‖ = {_fmt(n.norm)}")
    return lines


def _node_attrs(n: Node, backward: bool, values: bool, lo: float, hi: float, total: float | None) -> dict[str, str]:
    lines = _lines(n, backward, values, total)
    widest = max(len(line) for view in (False, True) for line in _lines(n, view, values, total))
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


def _range(desc: Description, nodes: list[Node]) -> tuple[float, float]:
    norms = [n.grad_norm for n in nodes if n.grad_norm] + [v for v in desc.totals.values() if v]
    norms += [e.grad_norm for e in desc.edges if e.grad_norm]
    return (min(norms), max(norms)) if norms else (1.0, 1.0)


def _elide(desc: Description, max_steps: int | None) -> tuple[list[Node], set[int], int]:
    """The nodes to draw, the steps shown, and how many steps are folded into the elision."""
    steps = desc.steps
    if max_steps is None or len(steps) <= max_steps:
        return desc.nodes, set(steps), 0
    if max_steps < 2:
        raise VizError(f"max_steps must be at least 2 (the first and the last step), got {max_steps}")
    head = max_steps // 2
    shown = set(steps[:head]) | set(steps[len(steps) - (max_steps - head) :])
    nodes = [n for n in desc.nodes if n.step is None or n.step in shown]
    return nodes, shown, len(steps) - len(shown)


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
        flows, each tensor coloured by its gradient norm, each shared parameter's edges labelled
        with that step's contribution ‖∂L/∂W(t)‖ and the parameter with its total ‖∂L/∂W‖.
        rolled: the folded circuit, one node per role and a one-step delay (■) on recurrent edges.
    max_steps : int or None
        Longer unrolls show the first and last steps with "… k steps …" between (None: all).
    values : bool
        Also print each tensor's values (or their mean and spread).
    max_nodes : int
        Refuse (with advice) to lay out more nodes than this.
    """
    if view not in VIEWS:
        raise VizError(f"viz.draw: view must be one of {', '.join(VIEWS)}; got {view!r}")
    desc = describe(roots)
    if view == "rolled":
        return _draw_rolled(desc, legend)
    backward = view == "backward"
    if backward and all(n.grad_norm is None for n in desc.nodes):
        raise VizError("viz.draw(view='backward'): no gradients recorded yet; call loss.backward() first")
    nodes, shown, elided = _elide(desc, max_steps)
    _check_size(len(nodes), max_nodes, len(desc.steps))
    keep = {n.key for n in nodes}
    lo, hi = _range(desc, nodes)

    g = Diagram(name=f"{view}", graph_attr=_graph_attrs(f"{view} pass"))
    by_step: dict[int | None, list[Node]] = {}
    for n in nodes:
        by_step.setdefault(None if n.kind == PARAMETER else n.step, []).append(n)
    step_of = {n.key: n.step for n in nodes}
    ordered = sorted(s for s in by_step if s is not None)
    elision_after = next((s for s, s2 in zip(ordered, ordered[1:], strict=False) if s2 - s > 1), None)
    for s in ordered:
        with g.subgraph(name=f"cluster_t{s}") as c:
            c.attr(label=f"t = {s}", style="rounded", color="#999999", fontname=_FONT)
            for n in by_step[s]:
                c.node(n.key, **_node_attrs(n, backward, values, lo, hi, desc.totals.get(n.key)))
        if s == elision_after:
            g.node("elided", label=f"… {elided} steps …", shape="plaintext", fontname=_FONT, fontsize="16")
    for n in by_step.get(None, []):
        g.node(n.key, **_node_attrs(n, backward, values, lo, hi, desc.totals.get(n.key)))

    level = _levels(desc)
    drawn_elision: set[tuple[str, str]] = set()
    for e in desc.edges:
        src_in, dst_in = e.src in keep, e.dst in keep
        if src_in and dst_in:
            attrs = _edge_attrs(e, desc, step_of, backward, lo, hi)
            if _crosses(desc.node(e.src), desc.node(e.dst)) and level[e.src] >= level[e.dst]:
                # h(t-1) -> (bottom of step t): declared head to tail with minlen 0, so it keeps the
                # steps in order (it takes part in the ordering) without lifting step t a row.
                flip = {"back": "forward", "forward": "back"}[attrs.get("dir", "forward")]
                g.edge(e.dst, e.src, **(attrs | {"dir": flip, "minlen": "0"}))
            else:
                g.edge(e.src, e.dst, **attrs)
        elif elided and (src_in or dst_in):
            pair = (e.src, "elided") if src_in else ("elided", e.dst)
            if desc.node(e.src).kind != PARAMETER and pair not in drawn_elision:
                drawn_elision.add(pair)
                g.edge(*pair, style="dotted", color="#999999", constraint="false")
    if legend:
        _legend(g, lo, hi, visible=backward)
    return g


def _graph_attrs(title: str) -> dict[str, str]:
    return {
        "rankdir": "BT",
        "newrank": "true",
        "nodesep": "0.25",
        "ranksep": "0.3",
        "fontname": _FONT,
        "label": title,
        "labelloc": "b",  # below the drawing: the nodes keep the same coordinates in every view
    }


def _crosses(src: Node, dst: Node) -> bool:
    """An edge from one time step into another (parameters belong to no step)."""
    return src.kind != PARAMETER and src.step is not None and dst.step is not None and src.step != dst.step


def _levels(desc: Description) -> dict[str, int]:
    """Each node's height inside its own step: the longest path to it from its step's inputs."""
    level = {n.key: 0 for n in desc.nodes}
    of = {n.key: n for n in desc.nodes}
    incoming: dict[str, list[str]] = {}
    for e in desc.edges:
        if of[e.src].kind != PARAMETER and not _crosses(of[e.src], of[e.dst]):
            incoming.setdefault(e.dst, []).append(e.src)
    for n in desc.nodes:  # topological order
        if n.key in incoming:
            level[n.key] = 1 + max(level[k] for k in incoming[n.key])
    return level


def _edge_attrs(
    e: Edge, desc: Description, step_of: dict[str, int | None], backward: bool, lo: float, hi: float
) -> dict[str, str]:
    src = desc.node(e.src)
    attrs: dict[str, str] = {"arrowsize": "0.6"}
    if src.kind == PARAMETER:
        attrs["color"] = "#b08d00"
    if not backward:
        attrs["style"] = "dashed"
        return attrs
    attrs["dir"] = "back"  # same layout as the forward view; the arrowhead shows the gradient's way
    if e.grad_norm is None:
        return attrs | {"style": "dotted", "color": "#cccccc", "arrowhead": "none", "arrowtail": "none"}
    attrs |= {"style": "solid", "color": _colour(e.grad_norm, lo, hi), "penwidth": "1.6"}
    if src.kind == PARAMETER:
        # an xlabel is placed after layout, so the backward view keeps the forward view's positions
        attrs |= {"xlabel": f"‖∂L/∂{src.name}({step_of[e.dst]})‖ = {_fmt(e.grad_norm)}", "fontsize": "9"}
        attrs["fontname"] = _FONT
    return attrs


def _legend(g: graphviz.Digraph, lo: float, hi: float, visible: bool) -> None:
    """Colour key: a column of swatches, each marked with the gradient norm where it starts.

    Both views carry it, invisible in the forward one, so that it takes the same room in both
    and every node sits at the same place in the two drawings.
    """
    span = math.log10(hi) - math.log10(lo) if hi > lo else 0.0
    style = "filled" if visible else "invis"
    with g.subgraph(name="cluster_legend") as c:
        c.attr(label="‖gradient‖\n(log scale)", style="rounded", color="#999999", fontname=_FONT, fontsize="11")
        if not visible:
            c.attr(style="invis", fontcolor="white")
        keys = []
        for i, colour in enumerate([*_PALETTE, _NO_GRAD]):
            start = 10 ** (math.log10(lo) + span * i / len(_PALETTE))
            label = "no gradient" if colour == _NO_GRAD else f"≥ {start:.1e}"
            key = f"legend{i}"
            keys.append(key)
            c.node(key, label=label, shape="box", style=style, fillcolor=colour, fontcolor=_text_colour(colour),
                   fontname=_FONT, fontsize="10", width="1.1", height="0.3", fixedsize="true")  # fmt: skip
        for a, b in zip(keys, keys[1:], strict=False):
            c.edge(b, a, style="invis")


def _draw_rolled(desc: Description, legend: bool) -> Diagram:
    """The folded circuit: tensors that play the same part at every step become one node;
    edges from one step to the next pass through a one-step delay (■) marker."""
    g = Diagram(name="rolled", graph_attr=_graph_attrs("rolled (folded) view"))
    role_nodes: dict[str, Node] = {}
    counts: dict[str, int] = {}
    for n in desc.nodes:
        role_nodes.setdefault(n.role, n)
        counts[n.role] = counts.get(n.role, 0) + 1
    role_key = {role: f"r{i}" for i, role in enumerate(role_nodes)}
    for role, n in role_nodes.items():
        attrs = _node_attrs(n, False, False, 1.0, 1.0, None)
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
            delay = f"delay{i}"
            g.node(delay, label="", shape="square", style="filled", fillcolor="black", width="0.15", height="0.15")
            g.edge(role_key[src], delay, arrowhead="none", **label)
            g.edge(delay, role_key[dst], constraint="false")
        else:
            g.edge(role_key[src], role_key[dst], **label)
    return g
