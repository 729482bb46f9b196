"""Step through the backward pass node by node: one self-contained HTML page.

The page holds the backward view rendered once as inline SVG, a side panel with each
parameter's gradient as it builds up, and a short script that walks through *frames*: one per
tensor ``backward()`` visits, in the order it visits them (reverse topological order from the
loss). Everything a frame lights up is computed here from the diagram's ``description`` and
``layout``, so each frame names exactly the SVG elements it concerns: every Graphviz node's
``<title>`` is a layout item id, and every piece of a layout line is a Graphviz edge titled
``A->B`` for consecutive ids A, B of the line.

A frame is

* the cost: the loss and the per-step terms folded into the one cost node, which sends
  ∂L/∂o(t) down to every output it reads;
* a drawn tensor: its gradient is complete (the sum of what arrived from its readers), and its
  op's rule sends the gradient on to its inputs, a share of each parameter's gradient included
  (the parameter's label on that line lights up);
* the elided steps (``max_steps``): one frame for each run of their tensors, lighting the gap's
  marks ("… k steps …" and the "⋯" of the other rows that cross it).

Lines not reached yet are faded, lines that have carried their gradient stay drawn, and lines
that never carry one (outputs outside the cost, inputs that do not require grad) stay grey.
The side panel gives, per parameter, the norm of what its ``.grad`` holds at this point of the
pass (computed from the recording: the partial sums of the per-edge gradients, in the order
``backward()`` adds them) and the norms of the shares received so far. No network access is
needed to view the page (no CDN, no fonts); ``#frame=N`` in the address opens frame N.
"""

from __future__ import annotations

import html
import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.autograd import edge_gradients, pass_gradients, walk

from .draw import VizError, draw
from .engines import to_svg
from .graph import Description, Node, as_roots
from .layout import Layout, Line
from .render import write_file


def backward_order(desc: Description) -> list[Node]:
    """The nodes of ``desc`` the backward pass from ``desc.roots[0]`` (the loss) gives a gradient,
    in the order it visits them: reverse topological order.

    Keys are topological positions ("n0", "n1", ...) and the loss's graph comes first in the
    walk, so the loss's ancestors are the nodes numbered up to it; this holds also when
    ``max_steps`` left the elided steps' tensors out of ``desc`` (their edges are not there to
    follow). Nodes that are not drawn carry no numbers and are left out."""
    loss = _position(desc.roots[0])
    return [n for n in reversed(desc.nodes) if _position(n.key) <= loss and n.grad_norm is not None]


def _position(key: str) -> int:
    return int(key[1:])


# --- the frames -----------------------------------------------------------------------------


@dataclass
class _Frame:
    kind: str  # "cost", "node" or "elision"
    item: str | None  # the layout item it lights up
    tensors: list[Tensor] = field(default_factory=list)  # what backward() visits in it, in order
    keys: list[str] = field(default_factory=list)


@dataclass
class _Param:
    key: str
    name: str
    tensor: Tensor
    total: float | None


def _norm(a: np.ndarray | None) -> float | None:
    """The 2-norm, scaled by the largest entry so that large gradients do not overflow."""
    if a is None:
        return None
    a = np.asarray(a, dtype=np.float64)
    if a.size == 0:
        return 0.0
    m = float(np.max(np.abs(a)))
    if m == 0.0 or not math.isfinite(m):
        return m
    return m * float(np.sqrt(np.sum(np.square(a / m))))


def _num(x: float | None) -> float | None:
    """A number JSON can hold (inf and nan become None; the page prints them as text)."""
    return x if x is not None and math.isfinite(x) else None


def _fmt(x: float | None) -> str:
    if x is None:
        return "–"
    if not math.isfinite(x):
        return str(x)
    return "0" if x == 0 else f"{x:.2e}"


def _frames(
    order: list[Tensor], live: int, desc: Description, layout: Layout, grads: dict[Tensor, Any]
) -> list[_Frame]:
    """One frame per drawn tensor ``backward()`` visits (an op with a gradient), in its order;
    the ops folded into the cost node are one frame (the first: the loss is one of them), and
    each run of tensors of the elided steps is one frame on the elision mark."""
    items = layout.items
    item_of = {it.key: it.id for it in items.values() if it.kind == "tensor" and it.key is not None}
    cost_item = "cost" if "cost" in items else None
    folded = set(desc.cost) if cost_item is not None else set()
    frames: list[_Frame] = []
    cost: _Frame | None = None
    for i in range(live - 1, -1, -1):
        t = order[i]
        if not t.parents or t not in grads:  # leaves are not visited, nor ops the gradient missed
            continue
        key = f"n{i}"
        if key in folded:
            if cost is None:
                cost = _Frame("cost", cost_item)
                frames.insert(0, cost)
            frame = cost
        elif key in item_of:
            frame = _Frame("node", item_of[key])
            frames.append(frame)
        elif frames and frames[-1].kind == "elision":
            frame = frames[-1]
        else:
            frame = _Frame("elision", "elided" if "elided" in items else None)
            frames.append(frame)
        frame.tensors.append(t)
        frame.keys.append(key)
    return frames


def _parameters(order: list[Tensor], live: int, desc: Description) -> list[_Param]:
    """The parameters the loss reads, weights before biases within the op that first reads them."""
    index = {id(t): i for i, t in enumerate(order[:live])}
    first: dict[int, tuple[int, int, int]] = {}
    for i, t in enumerate(order[:live]):
        for j, p in enumerate(t.parents):
            if not p.parents and p.requires_grad and id(p) not in first:
                first[id(p)] = (i, -p.data.ndim, j)
    params = [order[index[k]] for k in sorted(first, key=first.get)]  # type: ignore[arg-type]
    out = []
    for p in params:
        key = f"n{index[id(p)]}"
        total = desc.totals.get(key, _norm(p.grad))
        out.append(_Param(key, p.name or key, p, total))
    return out


def _replay(
    root: Tensor, frames: list[_Frame], params: list[_Param], also: list[Tensor], grads: dict[Tensor, Any]
) -> dict[tuple[int, int], Any]:
    """What the edges out of the parameters (and into ``also``) carried: the op rules of their
    readers replayed on the gradients of the last backward() (nothing else is replayed)."""
    is_param = {id(p.tensor) for p in params}
    readers = {id(t): t for f in frames for t in f.tensors if any(id(q) in is_param for q in t.parents)}
    readers.update((id(t), t) for t in also if t in grads)
    with np.errstate(all="ignore"):  # replaying the rules repeats any warning backward() already gave
        return edge_gradients(root, list(readers.values()), grads)


def _shares(frames: list[_Frame], params: list[_Param], carried: dict[tuple[int, int], Any]) -> list[dict[str, Any]]:
    """Per frame: what each parameter received in it (the norm of the sum of its edges' gradients)
    and the norm of the parameter's gradient so far, summed edge by edge as ``backward()`` does."""
    is_param = {id(p.tensor): p for p in params}
    running: dict[str, np.ndarray] = {}
    count: dict[str, int] = {p.key: 0 for p in params}
    out = []
    for f in frames:
        got: dict[str, np.ndarray] = {}
        for t in f.tensors:
            for j, q in enumerate(t.parents):
                p = is_param.get(id(q))
                g = carried.get((id(t), j)) if p is not None else None
                if p is None or g is None:
                    continue
                got[p.key] = got[p.key] + g if p.key in got else g
                if p.key in running:  # as autograd.accumulate: the leaf's dtype, added in place
                    running[p.key] += g
                else:
                    running[p.key] = np.array(g, dtype=q.dtype, copy=True)
        for k in got:
            count[k] += 1
        out.append(
            {
                "got": {k: _num(_norm(g)) for k, g in got.items()},
                "sums": {p.key: [_num(_norm(running.get(p.key))) if p.key in running else 0.0, count[p.key]]
                         for p in params},
            }
        )  # fmt: skip
    return out


@dataclass
class _LinePlan:
    line: Line
    reader: int  # the frame of the tensor that reads the line's tail (its rule sends gradient along it)
    giver: int  # ``reader`` if the line carries a gradient, else -1
    receiver: str | None  # the item receiving it
    at: int  # the receiver's frame (-1: none, e.g. a parameter or an input)


def _line_plans(layout: Layout, frame_of_key: dict[str, int], frame_of_item: dict[str, int], cost_frame: int
                ) -> list[_LinePlan]:  # fmt: skip
    """When each line of the diagram carries its gradient: at the frame of the tensor that reads
    the line's tail (backward, the gradient flows from a tensor to its inputs)."""
    plans = []
    for line in layout.lines:
        head = line.ids[0]  # the tail of the recorded edge (the input), where the gradient goes
        if line.edge is None and line.carries:  # a trunk: it carries when its first branch does
            first = line.carries[0]
            reader, at = frame_of_key.get(first.dst, -1), frame_of_key.get(first.src, -1)
            giver = reader if first.grad_norm is not None or line.share is not None else -1
            receiver = head if head in layout.items and layout.items[head].kind == "tensor" else None
            plans.append(_LinePlan(line, reader, giver, receiver, at if giver >= 0 else -1))
            continue
        if line.edge is None:
            if line.ids[-1] == "cost":  # a riser: the cost sends ∂L/∂o(t) down
                at = frame_of_item.get(head, -1)
                plans.append(_LinePlan(line, cost_frame, cost_frame if at >= 0 else -1, head, at))
            else:
                plans.append(_LinePlan(line, -1, -1, None, -1))
            continue
        reader = frame_of_key.get(line.edge.dst, -1)
        if line.role == "stub":
            carries = line.share is not None or line.edge.grad_norm is not None
            plans.append(_LinePlan(line, reader, reader if carries else -1, None, -1))
            continue
        at = frame_of_key.get(line.edge.src, -1)
        if line.role == "elision":  # no numbers beyond the drawn steps: it carries one if both ends have frames
            carries = at >= 0
        else:
            carries = line.edge.grad_norm is not None
        receiver = head if head in layout.items and layout.items[head].kind != "point" else None
        if receiver is not None and layout.items[receiver].kind == "anchor":
            # a line leaving its input at a point of its own on the border (a bent line beside
            # another, a line into an elision mark): the input, or the mark standing for it
            receiver = line.edge.src if line.edge.src in layout.items else layout.marks.get(line.edge.src)
        giver = reader if carries else -1
        plans.append(_LinePlan(line, reader, giver, receiver, at if giver >= 0 else -1))
    return plans


def _pieces(line: Line) -> list[str]:
    points = line.points()
    return [f"{a}->{b}" for a, b in zip(points, points[1:], strict=False)]


def _label_frames(layout: Layout, desc: Description, frame_of_key: dict[str, int], plans: list[_LinePlan],
                  got: list[dict[str, Any]]) -> dict[str, int]:  # fmt: skip
    """The frame at which each parameter label lights up: that of the tensor reading the line the
    label is on (found by the label's id, which names the line), if that tensor's rule gave the
    parameter a share; -1 if it never does (a share "–": an output outside the cost)."""
    by_suffix = {"_".join(p.line.ids): p for p in plans}
    out: dict[str, int] = {}
    for it in layout.items.values():
        if it.kind != "label" or it.key is None:
            continue
        prefix = f"label_t{it.step}_{it.key}_" if it.step is not None else f"label_{it.key}_"
        plan = by_suffix.get(it.id[len(prefix) :]) if it.id.startswith(prefix) else None
        if plan is not None:
            readers = [plan.reader]
        else:  # a label on no known line: the tensors of its step that read the parameter
            readers = sorted(frame_of_key[e.dst] for e in desc.outgoing(it.key)
                             if e.dst in frame_of_key and desc.node(e.dst).place == it.step)  # fmt: skip
        out[it.id] = next((i for i in readers if i >= 0 and it.key in got[i]), -1)
    return out


def _name(layout: Layout, desc: Description, key: str) -> str:
    it = layout.items.get(key)
    if it is not None and it.kind == "tensor" and it.lines:
        return it.lines[0]
    n = desc.node(key)
    return f"{n.name or n.op}({n.step})" if n.step is not None else (n.name or n.op or "const")


def _plan(roots: list[Tensor], desc: Description, layout: Layout, title: str) -> dict[str, Any]:
    """Everything the page's script needs, as plain data."""
    order = walk(*roots)
    live = next(i for i, t in enumerate(order) if t is roots[0]) + 1
    if desc.roots[0] != f"n{live - 1}":
        raise VizError("viz.animate: the diagram's description does not match the recording (keys differ)")
    with np.errstate(all="ignore"):
        grads = pass_gradients(roots[0])
    frames = _frames(order, live, desc, layout, grads)
    params = _parameters(order, live, desc)
    # the lines into and out of the elision have no numbers in the description: replay their readers
    crossing = [line.edge for line in layout.lines if line.role == "elision" and line.edge is not None]
    carried = _replay(roots[0], frames, params, [order[_position(e.dst)] for e in crossing], grads)
    shares = _shares(frames, params, carried)
    carries = {(e.dst, e.index): _norm(carried.get((id(order[_position(e.dst)]), e.index))) for e in crossing}
    frame_of_key = {k: i for i, f in enumerate(frames) for k in f.keys}
    frame_of_item = {f.item: i for i, f in enumerate(frames) if f.item is not None}
    # the elision's marks in the other rows ("⋯") are lit with its text
    dots = [k for k, it in layout.items.items() if it.kind == "elision" and k != "elided"]
    frame_of_item |= {k: frame_of_item["elided"] for k in dots if "elided" in frame_of_item}
    cost_frame = next((i for i, f in enumerate(frames) if f.kind == "cost"), -1)
    plans = _line_plans(layout, frame_of_key, frame_of_item, cost_frame)
    labels = _label_frames(layout, desc, frame_of_key, plans, [sh["got"] for sh in shares])
    param_names = {p.key: p.name for p in params}

    leaving: dict[int, list[_LinePlan]] = {}
    reaching: dict[int, list[_LinePlan]] = {}
    for p in plans:
        if p.giver >= 0:
            leaving.setdefault(p.giver, []).append(p)
            reaching.setdefault(p.at, []).append(p)
    lighting: dict[int, list[str]] = {}
    for k, v in labels.items():
        lighting.setdefault(v, []).append(k)
    out_frames = []
    for i, f in enumerate(frames):
        leaves, arrived, lit = leaving.get(i, []), reaching.get(i, []), lighting.get(i, [])
        info = _frame_text(f, desc, layout, arrived, leaves, shares[i]["got"], param_names, carries)
        item = layout.items.get(f.item) if f.item is not None else None
        step = item.step if item is not None and f.kind == "node" else None
        box = layout.frames[step].id if step is not None and step in layout.frames else None
        first = desc.node(f.keys[0]) if f.kind == "node" else None
        out_frames.append(
            {
                "key": f.keys[0],
                "kind": f.kind,
                "item": f.item,
                "box": box,
                "step": step,
                "name": info["name"],
                "op": first.op if first is not None else None,
                "shape": list(first.shape) if first is not None else None,
                "grad_norm": _num(first.grad_norm) if first is not None else None,
                "ids": ([f.item] if f.item is not None else []) + (dots if f.kind == "elision" else []) + lit,
                "leaves": [t for p in leaves for t in _pieces(p.line)],
                "arrived": [t for p in arrived for t in _pieces(p.line)],
                "head": info["head"],
                "text": info["text"] + (_DONE if i == len(frames) - 1 else ""),
                "got": shares[i]["got"],
                "sums": shares[i]["sums"],
                "span": info["span"],
            }
        )
    marks = [it for it in layout.items.values() if it.kind in ("tensor", "cost", "elision")]
    nodes = {it.id: frame_of_item.get(it.id, -1) for it in marks}
    lines = [
        {"pieces": _pieces(p.line), "points": [i for i in p.line.ids if layout.items.get(i) is not None
                                               and layout.items[i].kind == "point"],
         "giver": p.giver, "receiver": p.receiver, "at": p.at}
        for p in plans
    ]  # fmt: skip
    return {
        "title": title,
        "frames": out_frames,
        "nodes": nodes,
        "labels": labels,
        "lines": lines,
        "boxes": [it.id for it in layout.frames.values()],
        "params": [
            {
                "key": p.key,
                "name": p.name,
                "total": _num(p.total),
                "total_text": _fmt(p.total),
                "accumulated": p.key in desc.accumulated,
                "note": desc.note(p.key),
            }
            for p in params
        ],
        "elided": desc.elided,
    }


def _carried(line: Line, carries: dict[tuple[str, int], float | None]) -> float | None:
    """The norm of what ``line`` carried (the description's, or the replay's for an elision line)."""
    if line.edge is None:
        return None
    if line.role == "elision":
        return carries.get((line.edge.dst, line.edge.index))
    return line.edge.grad_norm


_DONE = " That was the last tensor backward() visits: every parameter's .grad now holds its total."


def _frame_text(f: _Frame, desc: Description, layout: Layout, arrived: list[_LinePlan], leaves: list[_LinePlan],
                got: dict[str, float | None], param_names: dict[str, str],
                carries: dict[tuple[str, int], float | None]) -> dict[str, Any]:  # fmt: skip
    """The frame's heading and the sentences that say what backward() does in it."""
    shares = ", ".join(f"{param_names.get(k, k)} {_fmt(v)}" for k, v in got.items())
    share_text = f" Parameter shares (‖∂L/∂W(t)‖ of this step): {shares}." if shares else ""
    if f.kind == "cost":
        reads = [_name(layout, desc, k) for k in desc.cost_reads]
        sent = ", ".join(reads[:6] + (["…"] if len(reads) > 6 else []))
        return {
            "name": "cost",
            "span": None,
            "head": "the cost",
            "text": f"backward() starts at the cost L with ∂L/∂L = 1. Through the {len(f.keys)} op(s) folded into "
            f"the cost node it sends ∂L/∂o to each output the cost reads: {sent or 'none'}." + share_text,
        }
    if f.kind == "elision":
        steps = sorted({t.step for t in f.tensors if t.step is not None})
        span = [steps[0], steps[-1]] if steps else None
        where = f"t = {steps[0]} … {steps[-1]}" if steps else "the elided steps"
        return {
            "name": f"… {len(steps)} steps …",
            "span": span,
            "head": f"{where}: elided (one frame for {len(f.tensors)} tensors)",
            "text": f"backward() runs through the {len(steps)} steps the diagram does not draw ({where}), visiting "
            f"{len(f.tensors)} tensors in the same way as the drawn steps; each parameter receives one share per "
            "step there. The panel adds them all at once."
            + (f" The norm of the sum of each parameter's shares there: {shares}." if shares else ""),
        }
    key = f.keys[0]
    n = desc.node(key)
    name = _name(layout, desc, key)
    came = []
    for p in arrived:
        if p.line.edge is None:
            g = next((e.grad_norm for e in desc.outgoing(key) if e.dst in desc.cost), None)
            came.append(f"the cost ({_fmt(g)})")
        else:
            src = "the elided steps" if p.line.edge.dst not in layout.items else None
            came.append(f"{src or _name(layout, desc, p.line.edge.dst)} ({_fmt(_carried(p.line, carries))})")
    onward = []
    for p in leaves:
        if p.line.role == "stub" or p.line.edge is None:
            continue
        to = "the elided steps" if p.line.edge.src not in layout.items else _name(layout, desc, p.line.edge.src)
        onward.append(f"{to} ({_fmt(_carried(p.line, carries))})")
    op = n.op or "leaf"
    text = f"{name} = {op}: its gradient is complete, ‖∂L/∂{name}‖ = {_fmt(n.grad_norm)}"
    text += f", the sum of what arrived from {', '.join(came)}." if came else "."
    text += f" backward() applies the rule of {op} and sends the gradient on to {', '.join(onward)}." if onward else ""
    text += share_text
    step = f" · t = {n.step}" if n.step is not None else ""
    return {"name": name, "span": None, "head": f"{name}{step}", "text": text}


# --- the page -------------------------------------------------------------------------------


def _inline_svg(svg: str) -> str:
    """The SVG element alone: no XML declaration, doctype or comments, which HTML does not want."""
    svg = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->", "", svg, flags=re.DOTALL)
    return svg.strip()


def _embed(data: object) -> str:
    """JSON that cannot end its <script> element early: every < > & written as a \\u escape."""
    text = json.dumps(data, ensure_ascii=False, allow_nan=False)
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def animate(
    root: Tensor | Sequence[Tensor],
    path: str | os.PathLike,
    *,
    max_steps: int | None = 12,
    title: str = "Backpropagation through time, node by node",
    backend: str = "auto",
) -> Path:
    """Write an HTML page that steps through the backward pass of ``root`` (the loss, or
    ``[loss, *outputs]`` to show the outputs left out of the cost) on the backward view's layout.

    ``loss.backward()`` must have run. The frames follow the order ``backward()`` visits the
    tensors; the cost is one frame, and so are the elided steps when ``max_steps`` hides some.
    Tensors that receive no gradient (inputs, outputs outside the cost) are drawn grey and never
    visited. ← / → step, space plays and pauses; ``page.html#frame=N`` opens frame N.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise VizError(f"viz.animate: write an .html file, got {path.name!r}")
    roots = as_roots(root, "viz.animate")
    diagram = draw(roots, "backward", max_steps=max_steps)
    desc, layout = diagram.description, diagram.layout
    if desc is None or layout is None:
        raise VizError("viz.animate: the backward view did not keep its description and layout")
    data = _plan(roots, desc, layout, title)
    svg = _inline_svg(to_svg(diagram.source, backend))
    page = _PAGE.replace("{{title}}", html.escape(title)).replace("{{data}}", _embed(data))
    return write_file(path, page.replace("{{svg}}", svg), "viz.animate")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{{title}}</title>
<style>
  html, body { margin: 0; }
  body { font-family: Helvetica, Arial, sans-serif; font-size: 14px; color: #222; padding: 8px 12px; }
  h2 { font-size: 18px; margin: 0 0 6px; }
  #controls { display: flex; gap: .5em; align-items: center; flex-wrap: wrap; margin: 4px 0; }
  #controls input[type=range] { flex: 1; min-width: 160px; }
  #controls button { min-width: 5.5em; }
  #counter { font-variant-numeric: tabular-nums; min-width: 6em; }
  #info { background: #f6f8fb; border: 1px solid #d8dee8; border-radius: 4px; padding: 6px 10px;
          margin: 4px 0 6px; min-height: 3.2em; line-height: 1.35; }
  #info b { color: #0b4ea2; }
  #main { display: flex; gap: 10px; align-items: flex-start; }
  #diagram { flex: 1; overflow: auto; border: 1px solid #ddd; height: 600px; position: relative; }
  #diagram svg { max-width: none; display: block; }
  #panel { width: 300px; flex: none; overflow: auto; border: 1px solid #ddd; padding: 6px 10px; height: 600px;
           box-sizing: border-box; }
  #panel h3 { font-size: 14px; margin: 2px 0 4px; }
  #panel .note { font-size: 11.5px; color: #555; margin: 0 0 8px; line-height: 1.3; }
  .param { border-top: 1px solid #eee; padding: 5px 0; }
  .param.got { background: #fff6d6; }
  .param .pname { font-weight: bold; }
  .param .row { display: flex; justify-content: space-between; }
  .param .count { color: #555; font-size: 12px; }
  .param .num { font-variant-numeric: tabular-nums; }
  .bar { height: 7px; background: #eee; border-radius: 3px; margin: 3px 0; }
  .bar div { height: 7px; background: #e31a1c; border-radius: 3px; }
  .shares { font-size: 11.5px; color: #555; line-height: 1.3; }
  .shares .new { color: #b00000; font-weight: bold; }
  #key { font-size: 12px; color: #555; margin: 4px 0 0; }
  #key span.sw { display: inline-block; width: 22px; height: 4px; vertical-align: middle; margin: 0 3px 0 10px; }
  /* states of the SVG elements */
  #diagram g.pending { opacity: .12; }
  #diagram g.inert { opacity: .4; }
  #diagram g.partial { opacity: .55; }
  #diagram g.node.current > path, #diagram g.node.current > polygon, #diagram g.node.current > ellipse {
    stroke: #0b4ea2; stroke-width: 4px; }
  #diagram g.node.current { filter: drop-shadow(0 0 5px #3d8bfd); }
  #diagram g.node.current text { font-weight: bold; }
  #diagram g.edge.active path { stroke-width: 4.5px; stroke-dasharray: none; }
  #diagram g.edge.active { filter: drop-shadow(0 0 3px #3d8bfd); }
  #diagram g.edge.arrived path { stroke-width: 3px; }
  #diagram g.edge.arrived { filter: drop-shadow(0 0 2px #444); }
  #diagram g.node.lit text { fill: #b00000; font-weight: bold; }
  #diagram g.node.lit { filter: drop-shadow(0 0 3px #ffd000); }
  #diagram g.node.here > path, #diagram g.node.here > polygon { stroke: #3d8bfd; stroke-width: 2.5px; }
  #diagram g.node.mark.current text { fill: #0b4ea2; font-weight: bold; }
</style>
</head>
<body>
<h2>{{title}}</h2>
<div id="controls">
  <button id="prev" title="previous frame (&#8592;)">&#9664; Prev</button>
  <button id="play" title="play / pause (space)">&#9654; Play</button>
  <button id="next" title="next frame (&#8594;)">Next &#9654;</button>
  <input id="slider" type="range" min="0" value="0" aria-label="frame">
  <span id="counter"></span>
  <label>speed <select id="speed" aria-label="milliseconds per frame">
    <option value="2000">slow (2 s)</option>
    <option value="1200">1.2 s</option>
    <option value="800" selected>0.8 s</option>
    <option value="400">0.4 s</option>
    <option value="150">fast (0.15 s)</option>
  </select></label>
  <label>zoom <select id="zoom" aria-label="zoom">
    <option value="fit">fit</option>
    <option value="0.75">75%</option>
    <option value="1" selected>100%</option>
    <option value="1.5">150%</option>
  </select></label>
</div>
<div id="info"></div>
<div id="main">
<div id="diagram">
{{svg}}
</div>
<aside id="panel">
  <h3>Each parameter's gradient, building up</h3>
  <p class="note">A parameter is used at every step, so backward() adds one share per step to its .grad.
  <i>so far</i> is the norm of the sum of the shares received up to this frame (what .grad holds now,
  computed from the recording); the list gives each share's norm &#8214;&#8706;L/&#8706;W(t)&#8214;, newest first.
  Norms of a sum are not sums of norms.</p>
  <div id="params"></div>
</aside>
</div>
<div id="key">&#8592; &#8594; step &middot; space play/pause &middot; Home/End &middot;
  the address #frame=N opens frame N.
  <span class="sw" style="background:#3d8bfd"></span>gradient sent in this frame
  <span class="sw" style="background:#444"></span>gradient that arrived at the current node
  &middot; faded: not reached yet &middot; grey: never carries a gradient</div>
<script type="application/json" id="bptt-data">{{data}}</script>
<script>
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("bptt-data").textContent);
  var frames = data.frames, n = frames.length;
  var STATES = ["pending", "current", "partial", "inert", "active", "arrived", "lit", "here"];
  function index(selector) {
    var map = {};
    document.querySelectorAll(selector).forEach(function (g) {
      var t = g.querySelector("title");
      if (t) (map[t.textContent] = map[t.textContent] || []).push(g);
    });
    return map;
  }
  var nodeEls = index("#diagram g.node"), edgeEls = index("#diagram g.edge");
  Object.keys(nodeEls).forEach(function (k) {  // the elision's marks: text only, lit in colour
    if (/^elided[0-9]*$/.test(k)) nodeEls[k].forEach(function (g) { g.classList.add("mark"); });
  });
  function set(els, state) {
    (els || []).forEach(function (g) {
      STATES.forEach(function (s) { if (s !== state) g.classList.remove(s); });
      if (state) g.classList.add(state);
    });
  }
  var $ = function (id) { return document.getElementById(id); };
  var diagram = $("diagram"), slider = $("slider"), playBtn = $("play");
  slider.max = Math.max(0, n - 1);
  var current = 0, timer = null;
  function fmt(x) {  // as the diagram writes numbers: 1.23e-01
    if (x === null || x === undefined) return "\\u2013";
    if (x === 0) return "0";
    var m = /^(-?[0-9.]+)e([+-])([0-9]+)$/.exec(x.toExponential(2));
    return m ? m[1] + "e" + m[2] + (m[3].length < 2 ? "0" : "") + m[3] : String(x);
  }
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return "&#" + c.charCodeAt(0) + ";"; }); }

  function stepLabel(f) {
    if (f.kind === "cost") return "cost";
    if (f.kind === "elision") return f.span ? "t=" + f.span[0] + "\\u2026" + f.span[1] : "elided";
    return f.step === null ? f.name : "t=" + f.step;
  }

  function panel(i) {
    var out = [];
    data.params.forEach(function (p) {
      var s = frames[i].sums[p.key], sofar = s[0], count = s[1];
      var hist = [];
      for (var j = i; j >= 0; j--) {
        var g = frames[j].got;
        if (Object.prototype.hasOwnProperty.call(g, p.key)) {
          hist.push('<span class="' + (j === i ? "new" : "") + '">' + esc(stepLabel(frames[j])) + ": " +
                    fmt(g[p.key]) + "</span>");
        }
      }
      var total = p.total, width = total ? Math.min(100, 100 * sofar / total) : (count ? 100 : 0);
      var got = Object.prototype.hasOwnProperty.call(frames[i].got, p.key);
      out.push('<div class="param' + (got ? " got" : "") + '"><div class="row"><span class="pname">' +
        esc(p.name) + '</span><span class="count">' + count + " share" + (count === 1 ? "" : "s") + "</span></div>" +
        '<div class="num">so far &#8214;&#931;&#8214; = <b>' + fmt(sofar) + "</b> &middot; total " +
        esc(p.total_text) + esc(p.note) + "</div>" +
        '<div class="bar"><div style="width:' + width.toFixed(1) + '%"></div></div>' +
        '<div class="shares">' + (hist.length ? hist.slice(0, 12).join(", ") + (hist.length > 12 ? ", \\u2026" : "")
                                             : "no share yet") + "</div></div>");
    });
    var box = $("params");
    box.innerHTML = out.join("");
    var first = box.querySelector && box.querySelector(".param.got"), pane = $("panel");
    if (first && pane.getBoundingClientRect && first.getBoundingClientRect) {  // keep the new shares in view
      var r = first.getBoundingClientRect(), q = pane.getBoundingClientRect();
      if (r.top < q.top || r.bottom > q.bottom) pane.scrollTop += r.top - q.top - 8;
    }
  }

  function reveal(els, smooth) {
    if (!els || !els.length || !els[0].getBoundingClientRect) return;
    var box = diagram.getBoundingClientRect(), r = els[0].getBoundingClientRect(), m = 40;
    var dx = 0, dy = 0;
    if (r.left < box.left + m || r.right > box.right - m) dx = (r.left + r.right) / 2 - (box.left + box.right) / 2;
    if (r.top < box.top + m || r.bottom > box.bottom - m) dy = (r.top + r.bottom) / 2 - (box.top + box.bottom) / 2;
    if (dx || dy) diagram.scrollTo({ left: diagram.scrollLeft + dx, top: diagram.scrollTop + dy,
                                     behavior: smooth ? "smooth" : "auto" });
  }

  function show(i, smooth) {
    if (!n) return;
    current = Math.max(0, Math.min(n - 1, i));
    var f = frames[current];
    var partial = {};
    data.lines.forEach(function (l) {
      var state = l.giver < 0 ? "inert" : l.giver > current ? "pending" : l.giver === current ? "active"
                : l.at === current ? "arrived" : "";
      l.pieces.forEach(function (t) { set(edgeEls[t], state); });
      l.points.forEach(function (p) { set(nodeEls[p], state === "inert" || state === "pending" ? state : ""); });
      if (l.giver >= 0 && l.giver <= current && l.receiver) partial[l.receiver] = true;
    });
    Object.keys(data.nodes).forEach(function (id) {
      var at = data.nodes[id];
      var state = at < 0 ? "inert" : at === current ? "current" : at < current ? ""
                : partial[id] ? "partial" : "pending";
      set(nodeEls[id], state);
    });
    Object.keys(data.labels).forEach(function (id) {
      var at = data.labels[id];
      set(nodeEls[id], at < 0 ? "inert" : at > current ? "pending" : at === current ? "lit" : "");
    });
    data.boxes.forEach(function (id) { set(nodeEls[id], id === f.box ? "here" : ""); });
    slider.value = current;
    $("counter").textContent = (current + 1) + " / " + n;
    $("info").innerHTML = "<b>" + esc(f.head) + "</b> &mdash; " + esc(f.text);
    panel(current);
    if (f.item) reveal(nodeEls[f.item], smooth);
    try { if (history.replaceState) history.replaceState(null, "", "#frame=" + (current + 1)); } catch (e) {}
  }

  function stop() {
    if (timer !== null) { clearInterval(timer); timer = null; }
    playBtn.textContent = "\\u25b6 Play";
  }
  function play() {
    if (timer !== null) { stop(); return; }
    if (current >= n - 1) show(0, true);
    playBtn.textContent = "\\u275a\\u275a Pause";
    timer = setInterval(function () {
      if (current >= n - 1) { stop(); return; }
      show(current + 1, true);
    }, parseInt($("speed").value, 10) || 800);
  }
  function blurred(fn) { return function () { if (this && this.blur) this.blur(); fn(); }; }
  $("prev").onclick = blurred(function () { stop(); show(current - 1, true); });
  $("next").onclick = blurred(function () { stop(); show(current + 1, true); });
  playBtn.onclick = blurred(play);
  slider.oninput = function () { stop(); show(parseInt(slider.value, 10), true); };
  $("speed").onchange = function () { if (timer !== null) { stop(); play(); } };

  var svg = document.querySelector("#diagram svg");
  var size = svg && svg.getAttribute ? [parseFloat(svg.getAttribute("width")), parseFloat(svg.getAttribute("height"))]
                                     : [NaN, NaN];
  function zoom() {
    if (!svg || !(size[0] > 0 && size[1] > 0)) return;
    var z = $("zoom").value;
    z = z === "fit" ? Math.min(1, (diagram.clientWidth - 4) / (size[0] * 4 / 3)) : parseFloat(z);
    svg.setAttribute("width", (size[0] * z).toFixed(1) + "pt");
    svg.setAttribute("height", (size[1] * z).toFixed(1) + "pt");
    fit();
    if (n) reveal(nodeEls[frames[current].item], false);
  }
  $("zoom").onchange = zoom;

  function fit() {  // the panel fills the window below the controls; the diagram too, or its own height
    if (!diagram.getBoundingClientRect || typeof window === "undefined" || !window.innerHeight) return;
    var below = ($("key").offsetHeight || 20) + 28;
    var room = Math.max(260, window.innerHeight - diagram.getBoundingClientRect().top - below);
    var tall = svg && svg.getBoundingClientRect ? svg.getBoundingClientRect().height + 24 : room;
    diagram.style.height = Math.min(room, Math.max(200, tall)) + "px";
    $("panel").style.height = room + "px";
  }

  document.addEventListener("keydown", function (e) {
    var tag = e.target && e.target.tagName;
    if (tag === "SELECT" || e.altKey || e.ctrlKey || e.metaKey) return;
    if (tag === "INPUT" && (e.key === "ArrowLeft" || e.key === "ArrowRight")) return;  // the slider moves itself
    if (e.key === "ArrowRight") { stop(); show(current + 1, true); }
    else if (e.key === "ArrowLeft") { stop(); show(current - 1, true); }
    else if (e.key === " " || e.key === "Spacebar") play();
    else if (e.key === "Home") { stop(); show(0, true); }
    else if (e.key === "End") { stop(); show(n - 1, true); }
    else return;
    e.preventDefault();
  });
  function fromHash() {
    var m = /frame=(\\d+)/.exec((typeof location !== "undefined" && location.hash) || "");
    return m ? parseInt(m[1], 10) - 1 : null;
  }
  if (typeof window !== "undefined" && window.addEventListener) {
    window.addEventListener("hashchange", function () {
      var k = fromHash();
      if (k !== null && k !== current) show(k);
    });
    window.addEventListener("resize", function () { fit(); });
  }
  fit();
  if (n) { var start = fromHash(); show(start === null ? 0 : start, false); }
  else $("info").textContent = "Nothing to step through: the loss was not computed from anything.";
})();
</script>
</body>
</html>
"""
