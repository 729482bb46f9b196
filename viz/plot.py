"""‖∂L/∂h(t)‖ against t: how much gradient reaches each time step, as a hand-written SVG plot.

A straight line on the log axis is a gradient that shrinks (or grows) by the same factor at
every step back in time: vanishing or exploding gradients, read off one picture. No plotting
library is needed.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from html import escape
from pathlib import Path

import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.errors import DTypeError

from .draw import VizError
from .graph import _norm, describe
from .render import write_file

_W, _H = 640, 400
_LEFT, _RIGHT, _TOP, _BOTTOM = 80, 24, 44, 56
_FONT = "Helvetica, Arial, sans-serif"


def gradient_norms(root_or_states: Tensor | Sequence[Tensor], name: str = "h") -> tuple[np.ndarray, np.ndarray]:
    """(steps, norms): ‖∂L/∂h(t)‖ for each step t, after ``loss.backward()``.

    Given the loss (a Tensor), the norms are read from the graph's nodes named ``name``, grouped
    by step (the last of them where one step has several); given a list of tensors (the hidden
    states h(1..T)), from each tensor's ``.grad``, at its step (or its index, if untagged).
    Steps the gradient did not reach have norm NaN.
    """
    if isinstance(root_or_states, Tensor):
        last: dict[int, float | None] = {}
        for n in describe(root_or_states).nodes:  # topological order: a later node overwrites
            if n.name == name and n.step is not None:
                last[n.step] = n.grad_norm
        if not last:
            raise VizError(
                f"viz.plot_gradient_norms: no tensor named {name!r} with a time step in the graph; pass "
                "name= the name of the hidden states, or the list of hidden states itself"
            )
        steps = sorted(last)
        norms = [last[s] for s in steps]
    else:
        states = list(root_or_states)
        if not states or not all(isinstance(t, Tensor) for t in states):
            raise DTypeError("viz.plot_gradient_norms: pass the loss (a Tensor) or a list of hidden-state Tensors")
        steps = [i if t.step is None else t.step for i, t in enumerate(states)]
        norms = [_norm(t.grad) for t in states]
    values = np.array([np.nan if v is None else v for v in norms], dtype=np.float64)
    return np.asarray(steps, dtype=np.int64), values


def plot_gradient_norms(
    root_or_states: Tensor | Sequence[Tensor],
    path: str | os.PathLike,
    name: str = "h",
    *,
    title: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Write an SVG line plot of ‖∂L/∂``name``(t)‖ against t (log y axis) and return the
    (steps, norms) it shows; see ``gradient_norms`` for where the numbers come from."""
    path = Path(path)
    if path.suffix.lower() != ".svg":
        raise VizError(f"viz.plot_gradient_norms: the plot is SVG; write a .svg file, got {path.name!r}")
    steps, norms = gradient_norms(root_or_states, name)
    shown = np.isfinite(norms) & (norms > 0)
    if not shown.any():
        raise VizError(
            f"viz.plot_gradient_norms: no gradient reached any {name}(t) (call loss.backward() first, "
            "and check that the states are in the cost's graph)"
        )
    svg = _svg(steps[shown], norms[shown], name, title or f"Gradient reaching each step: ‖∂L/∂{name}(t)‖")
    write_file(path, svg, "viz.plot_gradient_norms")
    return steps, norms


def _int_ticks(lo: int, hi: int, most: int = 10) -> list[int]:
    """At most about ``most`` round integer ticks from lo to hi."""
    span = max(1, hi - lo)
    raw = span / most
    step = next(m * 10**e for e in range(0, 12) for m in (1, 2, 5) if m * 10**e >= raw)
    return list(range(math.ceil(lo / step) * step, hi + 1, step))


def _svg(steps: np.ndarray, norms: np.ndarray, name: str, title: str) -> str:
    t0, t1 = int(steps.min()), int(steps.max())
    if t0 == t1:
        t0, t1 = t0 - 1, t1 + 1
    e0 = math.floor(math.log10(norms.min()))
    e1 = math.ceil(math.log10(norms.max()))
    if e0 == e1:
        e1 += 1
    pw, ph = _W - _LEFT - _RIGHT, _H - _TOP - _BOTTOM

    def x(t: float) -> float:
        return _LEFT + (t - t0) / (t1 - t0) * pw

    def y(v: float) -> float:
        return _TOP + (e1 - math.log10(v)) / (e1 - e0) * ph

    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" viewBox="0 0 {_W} {_H}" '
        f'font-family="{_FONT}" font-size="12">',
        f'<rect width="{_W}" height="{_H}" fill="white"/>',
        f'<text x="{_W / 2}" y="24" text-anchor="middle" font-size="15">{escape(title)}</text>',
    ]
    decade_every = max(1, math.ceil((e1 - e0) / 8))
    for e in range(e0, e1 + 1):  # decades: grid line, tick, label; minor ticks at 2..9
        if (e - e0) % decade_every == 0:
            out.append(f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{y(10.0**e):.1f}" y2="{y(10.0**e):.1f}" '
                       'stroke="#e3e3e3"/>')  # fmt: skip
            out.append(
                f'<line x1="{_LEFT - 6}" x2="{_LEFT}" y1="{y(10.0**e):.1f}" y2="{y(10.0**e):.1f}" stroke="black"/>'
            )
            out.append(f'<text x="{_LEFT - 9}" y="{y(10.0**e) + 4:.1f}" text-anchor="end">10<tspan dy="-6" '
                       f'font-size="9">{e}</tspan></text>')  # fmt: skip
        if e < e1 and decade_every == 1:
            for m in range(2, 10):
                yy = y(m * 10.0**e)
                out.append(f'<line x1="{_LEFT - 3}" x2="{_LEFT}" y1="{yy:.1f}" y2="{yy:.1f}" stroke="black"/>')
    for t in _int_ticks(t0, t1):
        out.append(f'<line x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{_TOP + ph}" y2="{_TOP + ph + 6}" stroke="black"/>')
        out.append(f'<text x="{x(t):.1f}" y="{_TOP + ph + 20}" text-anchor="middle">{t}</text>')
    out.append(f'<path d="M{_LEFT},{_TOP} V{_TOP + ph} H{_LEFT + pw}" fill="none" stroke="black"/>')
    out.append(f'<text x="{_LEFT + pw / 2}" y="{_H - 12}" text-anchor="middle">time step t</text>')
    out.append(f'<text transform="translate(18 {_TOP + ph / 2}) rotate(-90)" text-anchor="middle">'
               f"‖∂L/∂{escape(name)}(t)‖ (log scale)</text>")  # fmt: skip
    points = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in zip(steps, norms, strict=True))
    out.append(f'<polyline points="{points}" fill="none" stroke="#d73027" stroke-width="2"/>')
    for t, v in zip(steps, norms, strict=True):
        out.append(f'<circle cx="{x(t):.1f}" cy="{y(v):.1f}" r="3" fill="#d73027"><title>t = {t}: {v:.3e}</title>'
                   "</circle>")  # fmt: skip
    out.append("</svg>")
    return "\n".join(out) + "\n"
