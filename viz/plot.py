"""‖∂L/∂h(t)‖ against t: how much gradient reaches each time step, as a hand-written SVG plot.

A straight line on the log axis is a gradient that shrinks (or grows) by the same factor at
every step back in time: vanishing or exploding gradients, read off one picture. No plotting
library is needed.

Norms the log axis cannot hold are drawn in strips outside it, never dropped: exact zeros
(the gradient underflowed) and subnormal norms (below float64's smallest normal number, where
the precision runs out) in strips under the axis, infinite and NaN norms in strips above it.
Steps the gradient never reached are left out and counted in a note. Long sequences are
thinned to the first, last, smallest and largest point of each pixel column, so the SVG stays
small and a one-step spike is still drawn.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path

import numpy as np

from tinygrad_rnn import Tensor
from tinygrad_rnn.analysis import JacobianNorms

from .draw import VizError
from .graph import _norm, describe
from .render import write_file

_W = 720
_LEFT, _RIGHT = 104, 28
_PLOT_H = 340  # height of the log axis
_ROW_H = 18  # height of one strip (0, subnormal, inf, nan)
_GAP = 16  # the break between the log axis and the strips
_TICK_SPACING = 20  # the least distance in pixels between two labelled decades
FONT = "Helvetica, Arial, sans-serif"
_LINE = "#d73027"
_SECOND = "#4575b4"  # a second series, dashed
_TINY = float(np.finfo(np.float64).tiny)
_MARKERS_SHOWN = 80  # at most this many points: each drawn as a dot with a tooltip
_TOOLTIPS = 500  # at most this many points: invisible hover targets with a tooltip
_DECADE_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)  # float64 spans 632 decades

# the strips outside the log axis: (kind, axis label, legend text, colour); floor strips are
# listed top to bottom, ceiling strips bottom to top
_CEILING = (("inf", "inf (overflow)", "inf (overflow)", "#762a83"), ("nan", "nan", "nan", "#1b7837"))
_FLOOR = (
    ("subnormal", "subnormal", f"subnormal (0 < norm < {_TINY:.1e})", "#f4a582"),
    ("zero", "0 (underflow)", "0 (underflow)", "#404040"),
)


def gradient_norms(root_or_states: Tensor | Sequence[Tensor], name: str = "h") -> tuple[np.ndarray, np.ndarray]:
    """‖∂L/∂h(t)‖ for each step t, after ``loss.backward()``.

    Parameters
    ----------
    root_or_states : Tensor or sequence of Tensor
        The loss: the norms are read from the graph's nodes named ``name``, grouped by step
        (the last of them where one step has several). Or the hidden states h(1..T): the norms
        are those of each tensor's ``.grad``, at its step (or its index, if untagged), which
        ``backward()`` keeps only when asked: ``loss.backward(retain_grads=True)``, or
        ``h.retain_grad()`` on each state before it.
    name : str
        The name of the hidden states in the graph (used only when given the loss).

    Returns
    -------
    steps : np.ndarray of int64
        The time steps, in increasing order when read from the loss.
    norms : np.ndarray of float64
        The 2-norm of the gradient at each step: 0 where it underflowed, inf or NaN where the
        gradient holds them, NaN where the gradient did not reach the step at all.

    Raises
    ------
    VizError
        The graph has no tensor named ``name`` with a time step, or ``root_or_states`` is
        neither a Tensor nor a non-empty list of Tensors.
    """
    steps, norms, _ = _collect(root_or_states, name)
    return steps, norms


def plot_gradient_norms(
    root_or_states: Tensor | Sequence[Tensor],
    path: str | os.PathLike,
    name: str = "h",
    *,
    title: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Write an SVG line plot of ‖∂L/∂``name``(t)‖ against t on a log y axis.

    The y axis is labelled at every decade when the range allows, else at every 2, 5, 10, 20,
    50... decades, from a labelled decade at or below the smallest norm to one at or above the
    largest. Norms of exactly 0 and subnormal norms are drawn in strips below the axis, inf and
    NaN norms in strips above it, each counted in the legend; steps the gradient did not reach
    are not drawn and are counted in a note.

    Parameters
    ----------
    root_or_states : Tensor or sequence of Tensor
        The loss after ``backward()``, or the list of hidden states; see ``gradient_norms``.
    path : str or os.PathLike
        Where to write the plot; it must end in ``.svg``. Missing directories are created.
    name : str
        The name of the hidden states in the graph.
    title : str, optional
        The plot's title; by default "Gradient reaching each step: ‖∂L/∂h(t)‖".

    Returns
    -------
    steps, norms : np.ndarray
        What ``gradient_norms`` returns: the numbers the plot shows.

    Raises
    ------
    VizError
        ``path`` is not an .svg file or cannot be written, the graph has no tensor named
        ``name``, or the gradient reached none of the steps.
    """
    path = Path(path)
    if path.suffix.lower() != ".svg":
        raise VizError(f"viz.plot_gradient_norms: the plot is SVG; write a .svg file, got {path.name!r}")
    steps, norms, reached = _collect(root_or_states, name)
    if not reached.any():
        raise VizError(
            f"viz.plot_gradient_norms: no gradient reached any {name}(t) (call loss.backward() first, with "
            "retain_grads=True if you pass the states: backward() releases intermediate tensors' gradients; "
            "and check that the states are in the cost's graph)"
        )
    quantity = f"‖∂L/∂{name}(t)‖"
    svg = _svg(steps, norms, reached, quantity, title or f"Gradient reaching each step: {quantity}")
    write_file(path, svg, "viz.plot_gradient_norms")
    return steps, norms


def plot_jacobian_norms(result: JacobianNorms, path: str | os.PathLike, *, title: str | None = None) -> Path:
    """Write an SVG plot of ``analysis.jacobian_norms``'s result: ‖∂h(T)/∂h(t)‖ (how much of a
    gradient arriving at the last state can reach state t, solid) and ‖∂h(t)/∂h(t-1)‖ (each
    step's factor, dashed) on one log axis, against t, the position in the chain of states
    (h(0) the first one passed). Returns the path.
    """
    if not isinstance(result, JacobianNorms):
        raise VizError(
            "viz.plot_jacobian_norms: pass what tinygrad_rnn.analysis.jacobian_norms(states) returns, got "
            f"{type(result).__name__}"
        )
    path = Path(path)
    if path.suffix.lower() != ".svg":
        raise VizError(f"viz.plot_jacobian_norms: the plot is SVG; write a .svg file, got {path.name!r}")
    T = len(result.one_step)
    svg = _svg(
        np.arange(T + 1),
        np.asarray(result.to_last, dtype=np.float64),
        np.ones(T + 1, dtype=bool),
        "‖∂h(T)/∂h(t)‖",
        title or f"Jacobians through time, T = {T}: what reaches h(t) from h(T), and each step's factor",
        second=(np.arange(1, T + 1), np.asarray(result.one_step, dtype=np.float64), "‖∂h(t)/∂h(t−1)‖"),
    )
    return write_file(path, svg, "viz.plot_jacobian_norms")


def plot_curves(
    path: str | os.PathLike,
    first: tuple[Sequence[int], Sequence[float], str],
    second: tuple[Sequence[int], Sequence[float], str] | None = None,
    *,
    title: str,
    x_label: str = "training step",
    y_label: str = "value",
) -> Path:
    """Write an SVG plot of one or two positive series on a log axis, e.g. two models' training
    losses: each series is (x values, y values, label), the first solid, the second dashed.
    Zeros and non-finite values are drawn in strips outside the axis, as ``plot_gradient_norms``
    draws them. Returns the path."""
    path = Path(path)
    if path.suffix.lower() != ".svg":
        raise VizError(f"viz.plot_curves: the plot is SVG; write a .svg file, got {path.name!r}")
    series = [first] if second is None else [first, second]
    arrays = []
    for x, y, label in series:
        x, y = np.asarray(x), np.asarray(y, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape or len(x) == 0 or x.dtype.kind not in "iu":
            raise VizError(
                f"viz.plot_curves: {label!r} needs integer x values and as many y values, both non-empty and 1-d; "
                f"got shapes {x.shape} and {y.shape}"
            )
        arrays.append((x.astype(np.int64), y, str(label)))
    (x1, y1, label1), *rest = arrays
    svg = _svg(
        x1, y1, np.ones(len(x1), dtype=bool), label1, title, second=rest[0] if rest else None, x_label=x_label,
        y_label=y_label,
    )  # fmt: skip
    return write_file(path, svg, "viz.plot_curves")


def _collect(root_or_states: Tensor | Sequence[Tensor], name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(steps, norms, reached): ``gradient_norms`` plus whether a gradient reached each step
    at all (a NaN norm is either a NaN gradient or no gradient; the plot tells them apart)."""
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
        states = list(root_or_states) if isinstance(root_or_states, (list, tuple)) else []
        if not states or not all(isinstance(t, Tensor) for t in states):
            raise VizError("viz.plot_gradient_norms: pass the loss (a Tensor) or a list of hidden-state Tensors")
        steps = [i if t.step is None else t.step for i, t in enumerate(states)]
        norms = [_norm(t.grad) for t in states]
    values = np.array([np.nan if v is None else v for v in norms], dtype=np.float64)
    reached = np.array([v is not None for v in norms], dtype=bool)
    return np.asarray(steps, dtype=np.int64), values, reached


def _int_ticks(lo: int, hi: int, most: int = 10) -> list[int]:
    """At most about ``most`` round integer ticks from lo to hi."""
    span = max(1, hi - lo)
    raw = span / most
    step = next(m * 10**e for e in range(0, 12) for m in (1, 2, 5) if m * 10**e >= raw)
    return list(range(math.ceil(lo / step) * step, hi + 1, step))


def _decade_ticks(lo: float, hi: float, most: int) -> tuple[int, int, int]:
    """(bottom, top, every): labelled decades 10^bottom, 10^(bottom + every) ... 10^top with
    bottom <= lo, top >= hi, at most ``most`` intervals, ``every`` the first of 1, 2, 5, 10,
    20, 50... that fits and bottom, top multiples of it."""
    e0, e1 = math.floor(lo), math.ceil(hi)
    if e1 == e0:
        e1 += 1
    for every in _DECADE_STEPS:
        bottom, top = math.floor(e0 / every) * every, math.ceil(e1 / every) * every
        if (top - bottom) // every <= max(1, most):
            break
    return bottom, top, every


def _minor_every(every: int) -> float:
    """Unlabelled ticks between labelled decades: at a fifth, a half or a tenth of the step
    (below one decade: the mantissas 2..9, returned as 0)."""
    if every == 1:
        return 0
    lead = every // 10 ** int(math.log10(every))
    return every / {1: 10, 2: 2, 5: 5}[lead]


@dataclass
class _Layout:
    """Where things go: the log axis spans [top, top + ph] for the decades [bottom, top_decade]."""

    t0: float
    t1: float
    e_bottom: int
    e_top: int
    top: float
    ph: float = _PLOT_H
    pw: float = _W - _LEFT - _RIGHT

    def x(self, t: np.ndarray | float) -> np.ndarray | float:
        return _LEFT + (t - self.t0) / (self.t1 - self.t0) * self.pw

    def y(self, log10_v: np.ndarray | float) -> np.ndarray | float:
        return self.top + (self.e_top - log10_v) / (self.e_top - self.e_bottom) * self.ph


def _fmt(v: float) -> str:
    return f"{v:.3e}" if v != 0 and math.isfinite(v) else str(v)


def _count(n: int) -> str:
    return f"{n} step" if n == 1 else f"{n} steps"


def _steps_text(steps: np.ndarray) -> str:
    """A short description of a set of steps: all of them if few, else the first and last."""
    if len(steps) <= 6:
        return "t = " + ", ".join(str(int(s)) for s in steps)
    return f"t = {int(steps[0])} … {int(steps[-1])}"


def _text_width(text: str, size: float) -> float:
    """A generous estimate of the width of ``text`` in the sans-serif font."""
    return 0.56 * size * len(text)


def _thin(x: np.ndarray, logv: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Indices to keep: in each pixel column of each segment, the first, last, smallest and
    largest point (so a one-step spike survives), in their original order."""
    column = np.floor(x).astype(np.int64)
    starts = np.flatnonzero(np.r_[True, (column[1:] != column[:-1]) | (segment[1:] != segment[:-1])])
    ends = np.r_[starts[1:], len(x)]
    keep: list[int] = []
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        chunk = logv[a:b]
        keep.extend(sorted({a, b - 1, a + int(np.argmin(chunk)), a + int(np.argmax(chunk))}))
    return np.asarray(keep, dtype=np.int64)


def _strip(
    kind: str, label: str, legend: str, colour: str, steps: np.ndarray, norms: np.ndarray, lay: _Layout, y: float
) -> list[str]:
    """One strip outside the log axis: its axis label and a bar over each run of its steps
    (adjacent steps closer than a few pixels merge into one bar; ``data-steps`` counts them)."""
    dx = lay.pw / (lay.t1 - lay.t0)
    half = min(3.0, max(1.0, 0.4 * dx))
    xs = lay.x(steps.astype(np.float64))
    gaps = np.flatnonzero(np.diff(xs) > 2 * half + 0.5)  # a new bar after each gap
    starts, ends = np.r_[0, gaps + 1], np.r_[gaps + 1, len(xs)]
    out = [
        f'<g class="{kind}">',
        f'<text x="{_LEFT - 9}" y="{y + 4:.1f}" text-anchor="end" font-size="11" font-style="italic">'
        f"{escape(label)}</text>",
    ]
    for a, b in zip(starts.tolist(), ends.tolist(), strict=True):
        x0, x1 = xs[a] - half, xs[b - 1] + half
        if b - a == 1:
            tip = f"t = {int(steps[a])}: {_fmt(float(norms[a]))}"
        else:
            tip = f"t = {int(steps[a])} … {int(steps[b - 1])}: {legend} ({b - a} steps)"
        out.append(
            f'<rect x="{x0:.2f}" y="{y - 5:.1f}" width="{x1 - x0:.2f}" height="10" fill="{colour}" '
            f'data-steps="{b - a}"><title>{escape(tip)}</title></rect>'
        )
    out.append("</g>")
    return out


def _svg(
    steps: np.ndarray,
    norms: np.ndarray,
    reached: np.ndarray,
    quantity: str,
    title: str,
    second: tuple[np.ndarray, np.ndarray, str] | None = None,
    x_label: str = "time step t",
    y_label: str | None = None,
) -> str:
    """The whole plot as SVG text: title, log axis with its decade ticks, the strips above and
    below it, the time axis, the line (thinned when long), tooltips when few, legend and notes.
    ``quantity`` names what is plotted; ``second`` (steps, values, what) is a second series,
    drawn dashed on the same log axis where its values are positive and finite."""
    order = np.argsort(steps, kind="stable")
    steps, norms, reached = steps[order], norms[order], reached[order]
    with np.errstate(invalid="ignore"):
        kinds = {
            "normal": np.isfinite(norms) & (norms >= _TINY),
            "subnormal": (norms > 0) & (norms < _TINY),
            "zero": norms == 0,
            "inf": np.isinf(norms),
            "nan": reached & np.isnan(norms),
        }
    unreached = ~reached
    ceiling = [row for row in _CEILING if kinds[row[0]].any()]
    floor = [row for row in _FLOOR if kinds[row[0]].any()]
    normal = kinds["normal"]
    logv = np.log10(norms[normal]) if normal.any() else np.zeros(0)

    t0, t1 = int(steps.min()), int(steps.max())
    if second is not None and len(second[0]):
        t0, t1 = min(t0, int(np.min(second[0]))), max(t1, int(np.max(second[0])))
    if t0 == t1:
        t0, t1 = t0 - 1, t1 + 1
    lo, hi = (float(logv.min()), float(logv.max())) if len(logv) else (-1.0, 0.0)
    if second is not None:
        s_steps, s_values, s_what = second
        s_ok = np.isfinite(s_values) & (s_values >= _TINY)
        s_log = np.log10(s_values[s_ok])
        if len(s_log):
            lo, hi = (min(lo, float(s_log.min())), max(hi, float(s_log.max()))) if len(logv) else (
                float(s_log.min()), float(s_log.max()))  # fmt: skip
    e_bottom, e_top, every = _decade_ticks(lo, hi, _PLOT_H // _TICK_SPACING)
    top = 48.0 + (len(ceiling) * _ROW_H + _GAP if ceiling else 0)
    lay = _Layout(t0, t1, e_bottom, e_top, top)
    pw, ph = lay.pw, lay.ph
    ceiling_y = [top - _GAP - (i + 0.5) * _ROW_H for i in range(len(ceiling))]
    floor_top = top + ph + _GAP
    floor_y = [floor_top + (i + 0.5) * _ROW_H for i in range(len(floor))]
    axis_y = floor_top + len(floor) * _ROW_H if floor else top + ph

    # the notes under the plot: a legend, the steps not drawn, the thinning
    legend: list[tuple[str, str, str]] = []
    if floor or ceiling or second is not None:  # a legend only when there is more than the line
        legend.append(("line", f"{quantity}: {_count(int(normal.sum()))}", _LINE))
        if second is not None:
            legend.append(("dashed", f"{s_what}: {_count(int(s_ok.sum()))}", _SECOND))
        for kind, _, text, colour in (*floor, *ceiling):
            legend.append(("bar", f"{text}: {_count(int(kinds[kind].sum()))}", colour))
    notes: list[str] = []
    if second is not None and not s_ok.all():
        notes.append(f"{s_what}: {_count(int((~s_ok).sum()))} not drawn (0 or not finite).")
    if unreached.any():
        notes.append(
            f"Not drawn: {_count(int(unreached.sum()))} the gradient did not reach ({_steps_text(steps[unreached])})."
        )
    if not normal.any():
        notes.append(f"No norm lies between {_TINY:.1e} and inf: nothing to draw on the log axis.")

    # the line: runs of consecutive normal steps, thinned when there are many points per pixel
    idx = np.flatnonzero(normal)
    segment = np.cumsum(~normal)[idx]  # steps in between that are not on the line break it
    xs = lay.x(steps[idx].astype(np.float64))
    thinned = len(idx) > 2 * pw
    if thinned:  # a break narrower than a pixel column cannot be seen: only wider ones are kept
        segment = np.cumsum(np.r_[0, np.diff(np.floor(xs)) >= 2])
        keep = _thin(xs, logv, segment)
        notes.append(
            f"{len(idx)} points drawn as {len(keep)}: the first, last, smallest and largest of each pixel column."
        )
        idx, xs, logv, segment = idx[keep], xs[keep], logv[keep], segment[keep]
    ys = lay.y(logv)

    legend_lines: list[list[tuple[str, str, str]]] = [[]] if legend else []
    used = 0.0
    for item in legend:
        w = 22 + _text_width(item[1], 11) + 14
        if legend_lines[-1] and used + w > _W - 24:
            legend_lines.append([])
            used = 0.0
        legend_lines[-1].append(item)
        used += w
    notes_y = axis_y + 62
    height = int(notes_y + 16 * (len(legend_lines) + len(notes)) + 4)

    title_size = min(15.0, (_W - 24) / (0.6 * max(1, len(title))))
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{height}" viewBox="0 0 {_W} {height}" '
        f'font-family="{FONT}" font-size="12">',
        f'<rect width="{_W}" height="{height}" fill="white"/>',
        f'<text x="{_W / 2}" y="26" text-anchor="middle" font-size="{title_size:.1f}">{escape(title)}</text>',
    ]
    # the log axis: labelled decades with grid lines, unlabelled minor ticks between them
    minor = _minor_every(every)
    for e in range(e_bottom, e_top + 1):
        if e < e_top and every == 1 and ph / (e_top - e_bottom) >= 24:
            for m in range(2, 10):
                yy = lay.y(e + math.log10(m))
                out.append(f'<line x1="{_LEFT - 3}" x2="{_LEFT}" y1="{yy:.2f}" y2="{yy:.2f}" stroke="black"/>')
        if minor and (e - e_bottom) % minor == 0 and (e - e_bottom) % every and ph * minor / (e_top - e_bottom) >= 4:
            yy = lay.y(e)
            out.append(f'<line x1="{_LEFT - 3}" x2="{_LEFT}" y1="{yy:.2f}" y2="{yy:.2f}" stroke="black"/>')
        if (e - e_bottom) % every == 0:
            yy = lay.y(e)
            out.append(
                f'<g class="ytick"><line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{yy:.2f}" y2="{yy:.2f}" stroke="#e3e3e3"/>'
                f'<line x1="{_LEFT - 6}" x2="{_LEFT}" y1="{yy:.2f}" y2="{yy:.2f}" stroke="black"/>'
                f'<text x="{_LEFT - 9}" y="{yy + 4:.2f}" text-anchor="end">10<tspan dy="-6" font-size="9">{e}</tspan>'
                "</text></g>"
            )
    # the strips outside it, on a grey band, with a break in the y axis
    for ys_, rows in ((ceiling_y, ceiling), (floor_y, floor)):
        if rows:
            band = min(ys_) - _ROW_H / 2
            out.append(f'<rect x="{_LEFT}" y="{band:.1f}" width="{pw}" height="{len(rows) * _ROW_H}" fill="#f2f2f2"/>')
    for gap_mid in ([top - _GAP / 2] if ceiling else []) + ([top + ph + _GAP / 2] if floor else []):
        for dy in (-2.5, 2.5):
            out.append(
                f'<line x1="{_LEFT - 5}" x2="{_LEFT + 5}" y1="{gap_mid + dy + 2:.1f}" y2="{gap_mid + dy - 2:.1f}" '
                'stroke="black"/>'
            )
    for (kind, label, text, colour), y in zip(ceiling, ceiling_y, strict=True):
        out += _strip(kind, label, text, colour, steps[kinds[kind]], norms[kinds[kind]], lay, y)
    for (kind, label, text, colour), y in zip(floor, floor_y, strict=True):
        out += _strip(kind, label, text, colour, steps[kinds[kind]], norms[kinds[kind]], lay, y)
    # the axes: the y axis broken where the strips begin
    spans = [(top, top + ph)]
    if ceiling:
        spans.append((ceiling_y[-1] - _ROW_H / 2, top - _GAP))
    if floor:
        spans.append((floor_top, axis_y))
    for a, b in spans:
        out.append(f'<line x1="{_LEFT}" x2="{_LEFT}" y1="{a:.1f}" y2="{b:.1f}" stroke="black"/>')
    out.append(f'<line x1="{_LEFT}" x2="{_LEFT + pw}" y1="{axis_y:.1f}" y2="{axis_y:.1f}" stroke="black"/>')
    for t in _int_ticks(t0, t1, most=max(2, int(pw // (_text_width(str(t1), 12) + 24)))):
        xx = lay.x(t)
        out.append(
            f'<g class="xtick"><line x1="{xx:.2f}" x2="{xx:.2f}" y1="{axis_y:.1f}" y2="{axis_y + 6:.1f}" '
            f'stroke="black"/><text x="{xx:.2f}" y="{axis_y + 20:.1f}" text-anchor="middle">{t}</text></g>'
        )
    out.append(f'<text x="{_LEFT + pw / 2}" y="{axis_y + 40:.1f}" text-anchor="middle">{escape(x_label)}</text>')
    out.append(
        f'<text transform="translate(20 {top + ph / 2:.1f}) rotate(-90)" text-anchor="middle">'
        f"{escape(y_label or quantity)} (log scale)</text>"
    )
    # the line, one polyline per run of steps on the log axis (a lone step is a dot)
    breaks = np.flatnonzero(np.diff(segment)) + 1
    for a, b in zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(xs)].tolist(), strict=True):
        if b - a == 1:
            out.append(f'<circle class="norm-dot" cx="{xs[a]:.2f}" cy="{ys[a]:.2f}" r="2" fill="{_LINE}"/>')
        elif b > a:
            points = " ".join(f"{px:.2f},{py:.2f}" for px, py in zip(xs[a:b], ys[a:b], strict=True))
            out.append(
                f'<polyline class="norm-line" points="{points}" fill="none" stroke="{_LINE}" stroke-width="2" '
                'stroke-linejoin="round"/>'
            )
    if not thinned and len(idx) <= _TOOLTIPS:
        visible = len(idx) <= _MARKERS_SHOWN
        style = f'r="3" fill="{_LINE}"' if visible else f'r="3" fill="{_LINE}" fill-opacity="0"'
        for i, px, py in zip(idx.tolist(), xs, ys, strict=True):
            out.append(
                f'<circle class="norm-point" cx="{px:.2f}" cy="{py:.2f}" {style}>'
                f"<title>t = {int(steps[i])}: {_fmt(float(norms[i]))}</title></circle>"
            )
    if second is not None:  # the second series: dashed runs of its drawable points, hover targets when few
        sx = lay.x(s_steps.astype(np.float64))
        with np.errstate(divide="ignore", invalid="ignore"):
            sy = lay.y(np.where(s_ok, np.log10(np.where(s_ok, s_values, 1.0)), 0.0))
        runs = np.split(np.arange(len(s_values)), np.flatnonzero(np.diff(s_ok.astype(np.int8))) + 1)
        for run in runs:
            if not s_ok[run[0]]:
                continue
            points = " ".join(f"{sx[i]:.2f},{sy[i]:.2f}" for i in run)
            out.append(
                f'<polyline class="second-line" points="{points}" fill="none" stroke="{_SECOND}" stroke-width="2" '
                'stroke-dasharray="4 3" stroke-linejoin="round"/>'
            )
        if s_ok.sum() <= _TOOLTIPS:
            for i in np.flatnonzero(s_ok).tolist():
                out.append(
                    f'<circle class="second-point" cx="{sx[i]:.2f}" cy="{sy[i]:.2f}" r="3" fill="{_SECOND}" '
                    f'fill-opacity="{1 if s_ok.sum() <= _MARKERS_SHOWN else 0}"><title>t = {int(s_steps[i])}: '
                    f"{_fmt(float(s_values[i]))}</title></circle>"
                )
    # the legend and the notes
    y = notes_y
    for line in legend_lines:
        xx = 24.0
        for shape, text, colour in line:
            if shape in ("line", "dashed"):
                dash = ' stroke-dasharray="4 3"' if shape == "dashed" else ""
                out.append(f'<line x1="{xx:.1f}" x2="{xx + 16:.1f}" y1="{y - 4}" y2="{y - 4}" stroke="{colour}" '
                           f'stroke-width="2"{dash}/>')  # fmt: skip
            else:
                out.append(f'<rect x="{xx + 3:.1f}" y="{y - 9}" width="10" height="10" fill="{colour}"/>')
            out.append(f'<text class="legend" x="{xx + 22:.1f}" y="{y}" font-size="11">{escape(text)}</text>')
            xx += 22 + _text_width(text, 11) + 14
        y += 16
    for note in notes:
        out.append(f'<text class="note" x="24" y="{y}" font-size="11">{escape(note)}</text>')
        y += 16
    out.append("</svg>")
    return "\n".join(out) + "\n"
