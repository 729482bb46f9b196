"""Step through the backward pass node by node: a self-contained HTML page.

The page holds the backward view rendered once as inline SVG and a short script with the
nodes in the order ``backward()`` visits them (reverse topological order). Prev / Next / Play
and a slider move through that order; the current node and the gradient edges that brought its
gradient are highlighted, nodes not visited yet are faded, and a panel shows the node's name,
op, step and gradient norm. No network access is needed to view it (no CDN, no fonts).
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path

from tinygrad_rnn import Tensor

from .draw import VizError, draw
from .engines import to_svg
from .graph import Description, Node, describe
from .render import write_file


def backward_order(desc: Description) -> list[Node]:
    """The nodes the backward pass from ``desc.roots[0]`` (the loss) gives a gradient, in the
    order it visits them: its graph in reverse topological order."""
    ancestors = {desc.roots[0]}
    for n in reversed(desc.nodes):  # topological order, read backwards: consumers before inputs
        if n.key in ancestors:
            ancestors.update(e.src for e in desc.incoming(n.key))
    return [n for n in reversed(desc.nodes) if n.key in ancestors and n.grad_norm is not None]


def _frames(desc: Description) -> list[dict[str, object]]:
    return [
        {
            "key": n.key,
            "name": n.name or "",
            "op": n.op or "",
            "kind": n.kind,
            "step": n.step,
            "shape": list(n.shape),
            "grad_norm": n.grad_norm,
        }
        for n in backward_order(desc)
    ]


def _inline_svg(svg: str) -> str:
    """The SVG element alone: no XML declaration, doctype or comments, which HTML does not want."""
    svg = re.sub(r"<\?xml[^>]*\?>|<!DOCTYPE[^>]*>|<!--.*?-->", "", svg, flags=re.DOTALL)
    return svg.strip()


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

    ``loss.backward()`` must have run. The order is the one ``backward()`` follows; nodes that
    received no gradient (inputs, outputs outside the cost) are drawn but not visited.
    """
    path = Path(path)
    if path.suffix.lower() not in (".html", ".htm"):
        raise VizError(f"viz.animate: write an .html file, got {path.name!r}")
    diagram = draw(root, "backward", max_steps=max_steps)
    desc = describe(root)
    data = json.dumps({"title": title, "frames": _frames(desc)}).replace("</", "<\\/")
    page = _PAGE.format(title=html.escape(title), svg=_inline_svg(to_svg(diagram.source, backend)), data=data)
    return write_file(path, page, "viz.animate")


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
  body {{ font-family: Helvetica, Arial, sans-serif; margin: 1em; }}
  #controls {{ display: flex; gap: .5em; align-items: center; margin: .5em 0; }}
  #controls input[type=range] {{ flex: 1; }}
  #info {{ font-size: 15px; margin: .3em 0 .8em; min-height: 1.4em; }}
  #diagram {{ overflow: auto; border: 1px solid #ddd; }}
  #diagram svg {{ max-width: none; }}
  .node.pending {{ opacity: .25; }}
  .node.current polygon, .node.current ellipse, .node.current path {{ stroke: #000; stroke-width: 5px; }}
  .edge.incoming path {{ stroke: #000 !important; stroke-width: 3px; }}
  .edge.incoming polygon {{ stroke: #000 !important; fill: #000 !important; }}
</style>
</head>
<body>
<h2>{title}</h2>
<div id="controls">
  <button id="prev">&#9664; Prev</button>
  <button id="play">&#9654; Play</button>
  <button id="next">Next &#9654;</button>
  <input id="slider" type="range" min="0" value="0">
  <span id="counter"></span>
</div>
<div id="info"></div>
<div id="diagram">
{svg}
</div>
<script type="application/json" id="bptt-data">{data}</script>
<script>
(function () {{
  "use strict";
  var data = JSON.parse(document.getElementById("bptt-data").textContent);
  var frames = data.frames;
  var byKey = {{}};
  document.querySelectorAll("#diagram g.node").forEach(function (g) {{
    var t = g.querySelector("title");
    if (t) byKey[t.textContent] = g;
  }});
  var edges = [];
  document.querySelectorAll("#diagram g.edge").forEach(function (g) {{
    var t = g.querySelector("title");
    if (t) edges.push([t.textContent.split("->")[0], g]);
  }});
  var order = {{}};
  frames.forEach(function (f, i) {{ order[f.key] = i; }});
  var slider = document.getElementById("slider");
  slider.max = Math.max(0, frames.length - 1);
  var current = 0, timer = null;

  function fmt(x) {{ return x === null ? "\\u2013" : x.toExponential(2); }}

  function show(i) {{
    current = Math.max(0, Math.min(frames.length - 1, i));
    var f = frames[current];
    Object.keys(byKey).forEach(function (key) {{
      var g = byKey[key];
      g.classList.toggle("current", key === f.key);
      g.classList.toggle("pending", key in order && order[key] > current);
    }});
    edges.forEach(function (pair) {{
      var tail = pair[0];
      // gradient reached f along the edges out of it (a parameter's: out of its junctions)
      var mine = tail === f.key || tail.indexOf(f.key + "_t") === 0;
      pair[1].classList.toggle("incoming", mine);
    }});
    slider.value = current;
    document.getElementById("counter").textContent = (current + 1) + " / " + frames.length;
    var what = f.name ? f.name + (f.op ? " = " + f.op : "") : (f.op || f.kind);
    document.getElementById("info").textContent = what + "   op: " + (f.op || "(leaf)") +
      "   step: " + (f.step === null ? "\\u2013" : f.step) + "   shape: (" + f.shape.join(", ") + ")" +
      "   \\u2016\\u2202L/\\u2202" + (f.name || "\\u00b7") + "\\u2016 = " + fmt(f.grad_norm) +
      (f.key in byKey ? "" : "   (in an elided step)");
  }}

  function stop() {{
    if (timer !== null) {{ clearInterval(timer); timer = null; }}
    document.getElementById("play").textContent = "\\u25b6 Play";
  }}
  document.getElementById("prev").onclick = function () {{ stop(); show(current - 1); }};
  document.getElementById("next").onclick = function () {{ stop(); show(current + 1); }};
  slider.oninput = function () {{ stop(); show(parseInt(slider.value, 10)); }};
  document.getElementById("play").onclick = function () {{
    if (timer !== null) {{ stop(); return; }}
    if (current >= frames.length - 1) show(0);
    document.getElementById("play").textContent = "\\u275a\\u275a Pause";
    timer = setInterval(function () {{
      if (current >= frames.length - 1) {{ stop(); return; }}
      show(current + 1);
    }}, 700);
  }};
  if (frames.length) show(0);
}})();
</script>
</body>
</html>
"""
