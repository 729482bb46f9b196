"""Draw a recorded graph: forward, backward and rolled views, as ``graphviz.Digraph``.

The pictures follow the textbooks (Goodfellow et al. fig. 10.3, Géron's BPTT figure): time
runs left to right, one frame per step titled ``t = k``; inside a step data flows bottom to top
(x(t), h(t), o(t)); the parameters are labels on the lines they act on (U on x → h, W on
h(t-1) → h(t), V on h → o; a bias on a short stub), at every step; the per-step costs and their
sum are one cost node ``C(o(2), o(3), o(4))`` above the steps. The backward view has the same
layout with solid arrows pointing the way the gradient flows, every tensor and line coloured
by its gradient norm on a decade scale (``scale.py``), and each parameter label giving that
step's share ‖∂L/∂W(t)‖ of the parameter's gradient. The rolled view folds the steps into one
circuit whose only delay markers (■) sit on real recurrences.

Every position is computed in ``layout.py`` and pinned (Graphviz only draws), so ``dot`` and
the in-process renderer give the same picture, and the cost of a long recording is one walk.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Sequence
from typing import Any

import graphviz

from tinygrad_rnn import Tensor
from tinygrad_rnn.errors import VizError

from .graph import COST, INITIAL, INPUT, OP, PARAMETER, Description, describe, describe_roles, keys_of
from .layout import (
    ARROW_SIZE,
    DIES,
    Item,
    Layout,
    Line,
    fmt,
    legend_and_caption,
    name_list,
    param_names,
    rolled,
    step_name,
    unrolled,
)
from .scale import NO_GRADIENT, Scale, make_scale, text_colour

VIEWS = ("forward", "backward", "rolled", "both")
STYLES = ("textbook", "full")
_FONT = "Helvetica,sans-Serif"
_PARAM_COLOUR = "#8a6d00"
_LINE = "#4d4d4d"
_MARK = "#c51b7d"  # mark=: a magenta outline, a colour no gradient takes
_DIED = "#08519c"  # jacobians=: a dark blue dashed outline (a hue no gradient takes) where the gradient has died


class Diagram(graphviz.Digraph):
    """A ``graphviz.Digraph`` that shows itself as SVG in a notebook even without Graphviz
    installed (in-process WebAssembly renderer as fallback). ``description`` and ``layout``
    are what it was drawn from (the recording read as data, and where each mark went)."""

    description: Description | None = None
    layout: Layout | None = None
    marked: frozenset[str] = frozenset()  # keys of the tensors drawn with mark=

    def _repr_svg_(self) -> str:
        from .engines import to_svg

        return to_svg(self.source)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None, **kwargs: Any) -> dict[str, str]:
        """SVG for Jupyter, honouring ``include`` / ``exclude`` (only image/svg+xml is offered)."""
        mime = "image/svg+xml"
        if (include is not None and mime not in include) or (exclude is not None and mime in exclude):
            return {}
        return {mime: self._repr_svg_()}


def _pt(x: float) -> str:
    return f"{x:.2f}".rstrip("0").rstrip(".")


def _inches(x: float) -> str:
    return f"{max(x, 0.0) / 72:.4f}"


def _pos(r: Any) -> str:
    return f"{_pt(r.cx)},{_pt(-r.cy)}!"


def draw(
    roots: Tensor | Sequence[Tensor],
    view: str = "forward",
    *,
    style: str = "textbook",
    max_steps: int | None = 12,
    values: bool = False,
    max_nodes: int = 3000,
    legend: bool = True,
    vmin: float | None = None,
    vmax: float | None = None,
    fold_cost: str = "one",
    caption: str | None = None,
    title: str | None = None,
    size: float | str | None = None,
    mark: Tensor | Sequence[Tensor] | None = None,
    split: bool | Tensor | Sequence[Tensor] = False,
    jacobians: bool | Sequence[Tensor] = False,
) -> Diagram:
    """Draw the graph that ``roots`` were computed from.

    Parameters
    ----------
    roots : Tensor or list of Tensor
        The loss; add outputs that are not in the cost (e.g. ``[loss, *outputs]``) to see them
        greyed out in the backward view.
    view : "forward", "backward", "rolled" or "both"
        forward: the unrolled graph, dashed arrows in the direction of computation, each
        parameter's name on the lines it acts on at every step.
        backward: the same layout after ``loss.backward()``: solid arrows the way the gradient
        flows, each tensor and line coloured by its gradient norm, each parameter label giving
        that step's share ‖∂L/∂W(t)‖ of the parameter's gradient (where a step uses the
        parameter several times, each line's label gives that use's part: "use 1/2").
        rolled: the folded circuit, one node per role, a one-step delay (■) on each recurrence.
        both: Géron's BPTT figure, the two passes in one picture: the backward view, with the
        forward pass as a dashed arrow beside each line (outputs outside the cost greyed).
    style : "textbook" or "full"
        textbook: parameters as labels on the lines they act on, at every step (Goodfellow fig.
        10.3). full: each parameter drawn once under the steps, with its total, its line running
        under the frames and rising into every step that uses it, marked with that step's share.
    max_steps : int or None
        Longer unrolls show the first and last steps with "… k steps …" between, and a "⋯"
        in each other row where a recurrence crosses the gap (None: all).
    values : bool
        Also print each tensor's values (or their mean and spread).
    max_nodes : int
        Refuse (with advice) to lay out more nodes than this.
    legend : bool
        Show the colour key of the backward view.
    vmin, vmax : float, optional
        Fix the colour scale (gradient norms) so that several diagrams compare; by default it
        covers the top decades of the gradients drawn.
    fold_cost : "one", "steps" or "none"
        "one": the loss, its sums and the per-step terms L(t) are one cost node naming the
        outputs it reads; "steps": only the sums are folded (one node over the L(t)); "none":
        the raw graph.
    caption : str, optional
        The caption under the drawing (default: the view, the number of steps, the cost).
    title : str, optional
        Put in front of the caption, e.g. the network's name ("seq2seq").
    size : float or str, optional
        Largest width in inches (or a Graphviz size such as "8,6"): a larger drawing is scaled
        down to fit, e.g. a notebook cell.
    mark : Tensor or list of Tensor, optional
        Tensors of the graph to outline in magenta, e.g. the op ``gradcheck`` found wrong:
        ``viz.draw(err.loss, "backward", mark=err.node)`` (unrolled views).
    split : bool, Tensor or list of Tensor
        Backward view, textbook style: under each share of these parameters (True: all), each
        loss term's part of it, ``L(4): ‖∂L(4)/∂W(t)‖`` (``analysis.per_use``; one backward
        pass per loss term). At most four terms per label: the largest, and how many smaller.
    jacobians : bool or list of Tensor
        Backward view: under each hidden state h(t) the spectral norms ‖∂h(t)/∂h(t-1)‖ and
        ‖∂h(T)/∂h(t)‖ (``analysis.jacobian_norms`` of these states h(0..T); True: the states
        named h, found in the graph: in a stacked or bidirectional network, the first layer's
        forward direction, its other chains being h_l1, h_reverse, ...), and a blue dashed
        outline on the states that less than 1e-3 of a gradient at h(T) reaches: where the
        gradient has died. For an LSTM the one-step Jacobian holds s(t-1) fixed, so the
        one-step norms do not bound the products. A state that is a parameter (a learned h0)
        gets no overlay. Costs one backward pass per element of a state and step, over the
        whole recording.

    Clipping is found without asking: where a parameter's ``.grad`` is this backward pass's
    gradient scaled down (as ``optim.clip_grad_norm`` does) or cut (``clip_grad_value``), its
    total says so, and the steps' shares are what the pass gave before. This comparison is made
    when every step is drawn or the recording has at most 2,000 steps.
    """
    if view not in VIEWS:
        raise VizError(f"viz.draw: view must be one of {', '.join(VIEWS)}; got {view!r}")
    if max_steps is not None and (isinstance(max_steps, bool) or not isinstance(max_steps, numbers.Integral)):
        raise VizError(f"viz.draw: max_steps is a whole number of steps (at least 2) or None; got {max_steps!r}")
    if style not in STYLES:
        raise VizError(f"viz.draw: style must be one of {', '.join(STYLES)}; got {style!r}")
    marked = frozenset(keys_of(roots, mark)) if mark is not None else frozenset()
    if marked and view == "rolled":
        raise VizError("viz.draw: mark= outlines tensors of an unrolled view; draw 'forward', 'backward' or 'both'")
    backward = view in ("backward", "both")
    for what, given in (("split", split), ("jacobians", jacobians)):
        if given is not False and given is not None and not backward:
            raise VizError(f"viz.draw: {what}= annotates the backward pass; draw view='backward' or 'both'")
    if split is not False and split is not None and style != "textbook":
        raise VizError("viz.draw: split= writes the loss terms under the textbook style's labels; draw "
                       "style='textbook' (the full style has one line per parameter and step, no room)")  # fmt: skip
    if view == "rolled":
        desc = describe_roles(roots, fold_cost=fold_cost)
    else:
        desc = describe(
            roots, max_steps=max_steps, fold_cost=fold_cost, split=split, jacobians=jacobians, need_gradients=backward
        )
    if backward and all(n.grad_norm is None for n in desc.nodes if n.drawn and n.kind != PARAMETER):
        raise VizError(
            f"viz.draw(view={view!r}): no gradients of this graph are kept; call loss.backward() first (backward() "
            "releases intermediate gradients: draw the tensor it started from, or call backward(retain_grads=True))"
        )
    drawn = sum(1 for n in desc.nodes if n.drawn and n.kind not in (PARAMETER, COST))
    if view != "rolled" and drawn > max_nodes:
        raise VizError(
            f"viz.draw: the diagram would have {drawn} nodes (more than max_nodes={max_nodes}) for {len(desc.shown)} "
            f"of the {len(desc.steps)} time steps; draw fewer steps with max_steps=8 (first and last steps, the "
            "rest elided), or raise max_nodes if you really want it all."
        )
    if view == "rolled":
        layout = rolled(desc)
        scale = None
    else:
        layout = unrolled(desc, backward, values, style, twins=view == "both")
        scale = None
        if backward:
            norms = _norms(desc, layout)
            scale = make_scale(norms, vmin, vmax)
    present = {scale.colour(v) for v in norms} if scale is not None else set()
    totals = _totals(desc) if backward and legend and style == "textbook" else []
    text_under = _caption(desc, view, caption)
    text_under = f"{title}: {text_under}" if title else text_under
    if marked:
        hidden = sum(1 for k in marked if k not in layout.items)
        text_under += f"; magenta outline: {len(marked) - hidden} marked"
        text_under += f" ({hidden} more in steps not drawn: raise max_steps)" if hidden else ""
    legend_and_caption(layout, scale if legend else None, present, text_under.split("\n"), totals)
    diagram = _dot(layout, desc, view, scale, size, marked)
    diagram.marked = marked
    return diagram


def _norms(desc: Description, layout: Layout) -> list[float | None]:
    """The gradient norms the diagram shows: drawn tensors, lines and labels."""
    out: list[float | None] = [desc.node(it.key).grad_norm for it in layout.items.values() if it.kind == "tensor"
                               and it.key is not None]  # fmt: skip
    out += [line.edge.grad_norm for line in layout.lines if line.edge is not None and line.role == "data"]
    out += [line.share for line in layout.lines if line.role in ("stub", "riser", "data", "trunk")
            and line.share is not None]  # fmt: skip
    out += [desc.totals.get(it.key or "") for it in layout.items.values() if it.kind == "parameter"]
    out += [1.0] if "cost" in layout.items else []  # the cost node's ∂L/∂L
    return out


def _totals(desc: Description) -> list[str]:
    """Each parameter's gradient, the sum of its per-step shares: ‖∂L/∂W‖ = ‖Σ_t ∂L/∂W(t)‖."""
    names = param_names(desc, qualified=True)
    keys = [n.key for n in desc.nodes if n.kind == PARAMETER and n.key in desc.totals]
    notes = {desc.note(k) for k in keys}
    common = notes.pop() if len(notes) == 1 and desc.clipped else ""  # clip_grad_norm: one factor for all
    unchecked = "" if desc.checked else " (.grad, not compared with the shares: over 2,000 steps, some not drawn)"
    lines = [f"each parameter's total, Σ over t{common}{unchecked}:"]  # under the legend
    for k in keys:
        lines.append(f"‖∂L/∂{names[k]}‖ = {fmt(desc.totals[k])}{'' if common else desc.note(k)}")
    return lines if len(lines) > 1 else []


def _caption(desc: Description, view: str, caption: str | None) -> str:
    if caption is not None:
        return caption
    what = {"forward": "forward pass", "backward": "backward pass (arrows: the way ∂L flows)",
            "rolled": "rolled (folded) view: ■ = one-step delay",
            "both": "forward pass (dashed) and backward pass (solid: the way ∂L flows)"}[view]  # fmt: skip
    steps = f"T = {len(desc.steps)} steps" if desc.steps else "no time steps (tag them with tinygrad_rnn.step(t))"
    steps += f", {desc.elided} not drawn" if desc.elided else ""
    reads = [step_name(desc.node(k), desc) for k in desc.cost_reads if desc.node(k).kind == OP]
    cost = f"; the cost reads {name_list(reads)}" if reads else ""
    more = []
    if desc.splits:
        more.append("under each share: the part of it that comes from each loss term L(k)")
    elif desc.split_terms == 1:
        more.append("split: the loss is one term, nothing to split (name per-step terms L, as sequence_loss does)")
    if desc.jacobians:
        last = desc.last_state or "h(T)"
        more.append(f"under each state: its one-step Jacobian's norm and ‖∂{last}/∂h(t)‖; blue dashed: below "
                    f"{DIES:g}, where the gradient from {last} has died")  # fmt: skip
    if desc.clipped:
        more.append("the gradients were clipped after this pass: the steps' shares are the gradient before it")
    if desc.changed_since:
        more.append("the parameters were changed in place since this pass (an optimizer step?): their boxes show "
                    "today's values, the tensors this pass's")  # fmt: skip
    return f"{what}; {steps}{cost}" + "".join(f"\n{m}" for m in more)


def _dot(layout: Layout, desc: Description, view: str, scale: Scale | None, size: float | str | None,
         marked: frozenset[str] = frozenset()) -> Diagram:  # fmt: skip
    backward = view in ("backward", "both")
    attrs = {"layout": "neato", "inputscale": "72", "splines": "false", "overlap": "true",
             "outputorder": "edgesfirst", "fontname": _FONT, "pad": "0.15"}  # fmt: skip
    if size is not None:
        if isinstance(size, int | float) and not isinstance(size, bool) and size > 0:
            attrs["size"] = f"{size:g},1000"
        elif isinstance(size, str) and re.fullmatch(r"\d+(\.\d+)?(,\d+(\.\d+)?)?!?", size):
            attrs["size"] = size
        else:
            raise VizError(
                f"viz.draw: size is the largest width in inches (e.g. 8) or a Graphviz size '8,6'; got {size!r}"
            )
    g = Diagram(name=view, graph_attr=attrs, node_attr={"fontname": _FONT, "fixedsize": "true"})
    g.description, g.layout = desc, layout
    for it in sorted(layout.items.values(), key=lambda it: it.kind != "frame"):  # frames first: underneath
        attrs = _item_attrs(it, desc, backward, scale)
        if it.kind == "tensor" and it.key in marked:
            attrs |= {"color": _MARK, "penwidth": "3.5"}
        g.node(it.id, **attrs)
    for line in layout.lines:
        _line(g, line, desc, backward, scale, layout)
    return g


def _item_attrs(it: Item, desc: Description, backward: bool, scale: Scale | None) -> dict[str, str]:
    r = it.rect
    a = {"pos": _pos(r), "width": _inches(r.w), "height": _inches(r.h), "label": "\n".join(it.lines),
         "fontsize": _pt(it.font), "margin": "0"}  # fmt: skip
    if it.kind == "frame":  # its title is an item of its own, at the top left
        return a | {"shape": "box", "style": "rounded", "color": "#9a9a9a", "label": ""}
    if it.kind == "delay":  # the one-step delay of a recurrence: Goodfellow's black square
        return a | {"shape": "square", "style": "filled", "fillcolor": "black", "label": ""}
    if it.kind == "anchor":  # an end or bend of a forward twin (view="both"): no mark of its own
        return a | {"shape": "point", "width": "0.01", "height": "0.01", "label": "", "style": "invis"}
    if it.kind == "point":
        return a | {"shape": "point", "width": "0.04", "height": "0.04", "label": "", "color": "#777777"}
    swatch = it.kind == "legend" and it.id[-1].isdigit()  # legend0, legend1, ...: colour boxes
    if it.kind in ("label", "elision", "caption", "title", "legend") and not swatch:
        colour = "#6b5600" if it.kind == "label" else "#333333"
        # 1 pt wider than its text: dot rounds a text's width up to whole points (V at 8.5 pt: 7 for
        # 5.7) and warns where that is wider than the node; the text is drawn at its place either way
        return a | {"shape": "plaintext", "fontcolor": colour, "width": _inches(r.w + 1)}
    if it.kind == "legend":  # a swatch: its one line is its colour
        return a | {"shape": "box", "style": "filled", "fillcolor": it.lines[0], "label": "", "color": "#777777"}
    if it.kind == "parameter":
        fill = scale.colour(desc.totals.get(it.key or "")) if backward and scale is not None else "#fff3b0"
        return a | {"shape": "box", "style": "filled,bold", "penwidth": "2", "fillcolor": fill,
                    "fontcolor": text_colour(fill)}  # fmt: skip
    if it.kind == "cost":
        fill = scale.colour(1.0) if backward and scale is not None else "#fde0dd"
        return a | {"shape": "box", "style": "rounded,filled,bold", "fillcolor": fill, "fontcolor": text_colour(fill)}
    n = desc.node(it.key or "")
    what = f"{n.name} = {n.op}" if n.name and n.op else (n.name or n.op or "const")
    a["tooltip"] = f"{what}, shape {list(n.shape)}" + (f", step {n.step}" if n.step is not None else "")
    if n.kind in (INPUT, INITIAL) or n.kind == "constant":
        return a | {"shape": "box", "style": "filled", "fillcolor": "#f2f2f2", "color": "#666666"}
    a |= {"shape": "box", "style": "rounded,filled", "fillcolor": "#dbe9f6"}
    if backward and scale is not None and n.kind == OP:
        fill = scale.colour(n.grad_norm)
        a |= {"fillcolor": fill, "fontcolor": text_colour(fill) if n.grad_norm is not None else "#888888"}
        if n.grad_norm is None:
            a["color"] = "#bbbbbb"
        elif fill == "#ffffff":
            a["penwidth"] = "2"
        if n.key in desc.jacobians and desc.jacobians[n.key][2] < DIES:
            a |= {"style": "rounded,filled,dashed", "color": _DIED, "penwidth": "2.2"}
    return a


def _line(g: graphviz.Digraph, line: Line, desc: Description, backward: bool, scale: Scale | None,
          layout: Layout) -> None:  # fmt: skip
    """One line of the diagram as Graphviz edges between its pinned points: the arrowhead on
    the piece at the receiving end (forward) or at the giving end (backward, ``dir=back``)."""
    arrow: int | None = -1 if not backward else 0  # which piece carries the arrowhead (None: none)
    if line.role == "forward":  # view="both": the forward pass beside the backward line
        style = {"style": "dashed", "color": _LINE}
        backward, arrow = False, -1
    elif line.role == "elision":
        style = {"style": "dotted", "color": "#999999"}
        if line.trunk is not None and not backward:
            arrow = None  # a trunk out of the elision: the arrowheads are its branches'
    elif line.role == "bus" and line.param is not None:  # a parameter's line under the steps
        style = {"style": "solid" if backward else "dashed", "color": _PARAM_COLOUR, "penwidth": "1.2"}
        arrow = 0 if backward and line.ids[0] == line.param else None  # the shares add up at the parameter
    else:
        if line.role in ("stub", "riser", "trunk"):
            grad = line.share
            if line.role == "trunk" and (not backward or layout.items[line.ids[0]].kind == "point"):
                arrow = None  # the arrowheads are the branches' (forward) and the trunk's at its tensor (backward)
        elif line.role == "cost":
            grad = desc.node(layout.items[line.ids[0]].key or "").grad_norm
        else:
            grad = line.edge.grad_norm if line.edge is not None else None
        if not backward:
            dashes = "solid" if view_is_rolled(layout) else "dashed"
            style = {"style": dashes, "color": _PARAM_COLOUR if line.role in ("stub", "riser") else _LINE}
        elif grad is None and line.role == "data" and line.share is not None:
            # nothing flows on to the input (x), but the parameter acting on it (U) gets its share
            # along this line: coloured by that share, no arrowhead
            style = {"style": "solid", "color": _stroke(scale, line.share), "penwidth": "1.8"}
            arrow = None
        elif grad is None and line.twin is not None:
            return  # view="both": nothing flows back here, the forward twin alone is drawn
        elif grad is None:
            style = {"style": "dotted", "color": "#c8c8c8"}
            arrow = None
        else:
            style = {"style": "solid", "color": _stroke(scale, grad), "penwidth": "1.8"}
    points = line.points()
    pieces = list(zip(points, points[1:], strict=False))
    at = None if arrow is None else arrow % len(pieces)
    if line.role == "bus" and at is not None:  # a shared input's line under the steps, junction to junction
        a, b = (layout.items[k].rect for k in pieces[at])
        if abs(a.cx - b.cx) + abs(a.cy - b.cy) < 12:
            at = None  # two junctions side by side (x into two rows of a step): no room for an arrowhead
    for i, (a, b) in enumerate(pieces):
        attrs = dict(style) | {"arrowsize": str(ARROW_SIZE)}
        if i != at:
            attrs["dir"] = "none"
        elif backward:
            attrs["dir"] = "back"  # the arrowhead at the piece's tail: the way the gradient flows
        g.edge(a, b, **attrs)


def _stroke(scale: Scale | None, norm: float | None) -> str:
    """A line's colour for a gradient norm (grey where the fill would be white or no-gradient grey)."""
    colour = scale.colour(norm) if scale is not None else _LINE
    return colour if colour not in ("#ffffff", NO_GRADIENT) else "#9a9a9a"


def view_is_rolled(layout: Layout) -> bool:
    """The rolled view draws its circuit in solid lines (Goodfellow fig. 10.3, left)."""
    return not layout.frames


__all__ = ["STYLES", "VIEWS", "Diagram", "VizError", "draw"]
