"""The gradient ledger as a heatmap: which loss term sends how much gradient to a parameter
through which step (or lag), on the diagrams' decade colour scale, as a hand-written SVG.

Rows are the loss terms L(t) in step order; columns the steps at which the parameter was used
(``by="step"``) or the lags, loss step minus use step (``by="lag"``). A cell is the Frobenius
norm of its term; a loss term that does not depend on a use (a later step's) is "no gradient",
grey, never a colour of the scale. Under the grid, one more row gives the norm of each
column's sum over the loss terms: the gradient that entered through that step, or that lag.
"""

from __future__ import annotations

import math
import os
from html import escape
from pathlib import Path

import numpy as np

from tinygrad_rnn.analysis import Ledger
from tinygrad_rnn.errors import VizError

from .plot import FONT  # the plots share one typeface
from .render import write_file
from .scale import NO_GRADIENT, ZERO, make_scale, text_colour

_GRID_W, _GRID_H = 560.0, 420.0  # the most the grid may take; cells are square when they fit
_CELL_MAX, _CELL_MIN = 28.0, 2.0
_LEFT, _TOP = 70.0, 58.0
_LEGEND_W = 170.0
_DETAILED = 2500  # up to this many cells, each is its own rectangle with a tooltip; beyond, runs of one colour


def _runs(items: list) -> list[tuple[int, int]]:
    """[start, stop) of each run of equal neighbours in ``items``."""
    starts = [0] + [j for j in range(1, len(items)) if items[j] != items[j - 1]]
    return list(zip(starts, [*starts[1:], len(items)], strict=True))


def _label_every(n: int, cell: float, size: float) -> int:
    """Label every k-th row or column so that labels are at least ``size`` apart."""
    for k in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000):
        if k * cell >= size:
            return k
    return max(1, n)


def _grid(
    ledger: Ledger, by: str, marked: np.ndarray
) -> tuple[np.ndarray, np.ndarray, list[str], np.ndarray, np.ndarray]:
    """(cell norms with NaN where not reached, column-total norms, column labels, column sums'
    reach, marked cells) for ``by``."""
    norms = ledger.norms()
    reached = ledger.reached
    if by == "step":
        cells = np.where(reached, norms, np.nan)
        sums = ledger.terms.sum(axis=0)
        totals = np.sqrt((sums.reshape(len(ledger.steps), -1).astype(np.float64) ** 2).sum(axis=1))
        labels = ["·" if s is None else str(s) for s in ledger.steps]
        return cells, totals, labels, reached.any(axis=0), marked
    lags, lag_sums = ledger.by_lag()
    col = {int(lag): j for j, lag in enumerate(lags)}
    cells = np.full((len(ledger.loss_steps), len(lags)), np.nan)
    marks = np.zeros(cells.shape, dtype=bool)
    for i, li in enumerate(ledger.loss_steps):
        for k, sk in enumerate(ledger.steps):
            if li is not None and sk is not None and reached[i, k]:
                cells[i, col[li - sk]] = norms[i, k]
                marks[i, col[li - sk]] = marked[i, k]
    totals = np.sqrt((lag_sums.reshape(len(lags), -1).astype(np.float64) ** 2).sum(axis=1))
    return cells, totals, [str(int(v)) for v in lags], np.ones(len(lags), dtype=bool), marks


def plot_ledger(
    ledger: Ledger,
    path: str | os.PathLike,
    *,
    by: str = "step",
    title: str | None = None,
    marked: np.ndarray | None = None,
    marked_label: str = "marked",
) -> Path:
    """Write the ledger's heatmap to an SVG file; returns the path.

    Parameters
    ----------
    ledger : tinygrad_rnn.analysis.Ledger
        What ``analysis.ledger(losses, param)`` returned.
    path : str or os.PathLike
        An ``.svg`` file; missing directories are created.
    by : {"step", "lag"}
        Columns are the steps where the parameter was used, or the lags (loss step minus use step).
    title : str, optional
        By default "Where the gradient of W comes from: ‖∂L(t)/∂W through step k‖".
    marked : array of bool, optional
        Shape (loss terms, steps) like ``ledger.reached``: terms to outline and cross, listed in
        the legend as ``marked_label`` (e.g. ``TruncationDiff.dropped_terms``, "dropped by
        truncation").
    """
    if not isinstance(ledger, Ledger):
        raise VizError(
            f"viz.plot_ledger: pass the Ledger that tinygrad_rnn.analysis.ledger(losses, param) returns, got "
            f"{type(ledger).__name__}"
        )
    if by not in ("step", "lag"):
        raise VizError(f"viz.plot_ledger: by must be 'step' or 'lag', got {by!r}")
    path = Path(path)
    if path.suffix.lower() != ".svg":
        raise VizError(f"viz.plot_ledger: the heatmap is SVG; write a .svg file, got {path.name!r}")
    shape = ledger.reached.shape
    if marked is None:
        marked = np.zeros(shape, dtype=bool)
    elif np.shape(marked) != shape or np.asarray(marked).dtype != bool:
        raise VizError(
            f"viz.plot_ledger: marked must be a boolean array of shape (loss terms, steps) = {shape}, like "
            f"ledger.reached; got {np.asarray(marked).dtype} of shape {np.shape(marked)}"
        )
    if by == "lag" and not len(ledger.by_lag()[0]):
        raise VizError("viz.plot_ledger: the ledger has no lags to show (its steps are untagged); use by='step'")
    cells, totals, labels, total_reached, marks = _grid(ledger, by, np.asarray(marked))
    if cells.size == 0:
        raise VizError("viz.plot_ledger: the ledger has no lags to show (every step is untagged); use by='step'")
    name = ledger.name
    through = "through step k" if by == "step" else "at lag t − k"
    title = title or f"Where the gradient of {name} comes from: ‖∂L(t)/∂{name} {through}‖"
    svg = _svg(cells, totals, total_reached, labels, ledger.loss_steps, name, by, title, marks, marked_label)
    return write_file(path, svg, "viz.plot_ledger")


def _svg(
    cells: np.ndarray,
    totals: np.ndarray,
    total_reached: np.ndarray,
    labels: list[str],
    loss_steps: list[int | None],
    name: str,
    by: str,
    title: str,
    marks: np.ndarray,
    marked_label: str,
) -> str:
    n_rows, n_cols = cells.shape
    cell = min(_CELL_MAX, _GRID_W / n_cols, _GRID_H / (n_rows + 1.5))
    cw = ch = max(_CELL_MIN, cell)
    grid_w, grid_h = n_cols * cw, n_rows * ch
    total_y = _TOP + grid_h + 0.5 * ch + 6  # the totals' row, a little apart from the grid
    axis_y = total_y + ch
    scale = make_scale([float(v) for v in (*cells[np.isfinite(cells)], *totals[total_reached])])
    present = set()
    title_w = 0.56 * 14 * len(title)
    width = max(_LEFT + grid_w + 24 + _LEGEND_W, title_w + 40)
    height = axis_y + 64

    def fill(v: float, reached: bool = True) -> str:
        colour = scale.colour(v) if reached and not math.isnan(v) else NO_GRADIENT
        present.add(colour)
        return colour

    def rect(x: float, y: float, colour: str, tip: str, cls: str, extra: str) -> str:
        outline = ' stroke="#404040" stroke-width="0.6"' if colour == ZERO else ""
        return (
            f'<rect class="{cls}" x="{x:.2f}" y="{y:.2f}" width="{cw:.2f}" height="{ch:.2f}" fill="{colour}"{outline} '
            f"{extra}><title>{escape(tip)}</title></rect>"
        )

    column_word = "step" if by == "step" else "lag"
    out = [
        "",  # the <svg> element and the white page, once the legend's height is known
        f'<text x="{width / 2:.1f}" y="24" text-anchor="middle" font-size="14">{escape(title)}</text>',
    ]
    detailed = n_rows * n_cols <= _DETAILED
    if not detailed:  # one pattern of diagonal lines marks runs of marked cells
        out.append(
            '<defs><pattern id="marked" width="4" height="4" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><line x1="0" y1="0" x2="0" y2="4" stroke="black" stroke-width="1.2"/>'
            "</pattern></defs>"
        )
    for i in range(n_rows):
        who = f"L({loss_steps[i]})" if loss_steps[i] is not None else "the rest of L"
        fills = [fill(float(v)) for v in cells[i]]
        if not detailed:  # a large grid: each run of one colour (and one mark) in a row is one rectangle
            for a, b in _runs(list(zip(fills, marks[i].tolist(), strict=True))):
                x, y, w = _LEFT + a * cw, _TOP + i * ch, (b - a) * cw
                out.append(
                    f'<rect class="run" x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{ch:.2f}" fill="{fills[a]}" '
                    f'data-row="{i}" data-col="{a}" data-cols="{b - a}"/>'
                )
                if marks[i, a]:
                    out.append(
                        f'<rect class="mark-run" x="{x:.2f}" y="{y:.2f}" width="{w:.2f}" height="{ch:.2f}" '
                        'fill="url(#marked)"/>'
                    )
            continue
        for j in range(n_cols):
            v = float(cells[i, j])
            where = f"step {labels[j]}" if by == "step" else f"lag {labels[j]}"
            tip = f"{who} through {name} at {where}: " + ("no gradient" if math.isnan(v) else f"‖term‖ = {v:.3e}")
            extra = f'data-row="{i}" data-col="{j}" data-norm="{"" if math.isnan(v) else repr(v)}"'
            if marks[i, j]:
                tip += f" ({marked_label})"
                extra += ' data-marked="1"'
            out.append(rect(_LEFT + j * cw, _TOP + i * ch, fills[j], tip, "cell", extra))
    for i, j in zip(*np.nonzero(marks if detailed else ()), strict=True):  # a cross over each marked cell
        x, y = _LEFT + j * cw, _TOP + i * ch
        out.append(
            f'<path class="mark" d="M{x + 1:.2f},{y + 1:.2f}L{x + cw - 1:.2f},{y + ch - 1:.2f}M{x + cw - 1:.2f},'
            f'{y + 1:.2f}L{x + 1:.2f},{y + ch - 1:.2f}" stroke="black" stroke-width="{min(1.5, cw / 8):.2f}"/>'
        )
    for j in range(n_cols):
        v, ok = float(totals[j]), bool(total_reached[j])
        tip = f"all loss terms through {name} at {column_word} {labels[j]}: ‖sum‖ = {v:.3e}"
        extra = f'data-col="{j}" data-norm="{repr(v) if ok else ""}"'
        out.append(rect(_LEFT + j * cw, total_y, fill(v, ok), tip, "total", extra))
    # row labels (loss terms), column labels (steps or lags), and what the axes are
    every = _label_every(n_rows, ch, 13)
    for i in range(0, n_rows, every):
        label = f"L({loss_steps[i]})" if loss_steps[i] is not None else "rest"
        out.append(
            f'<text class="row-label" x="{_LEFT - 6}" y="{_TOP + (i + 0.5) * ch + 4:.2f}" text-anchor="end" '
            f'font-size="11">{escape(label)}</text>'
        )
    out.append(
        f'<text class="row-label" x="{_LEFT - 6}" y="{total_y + 0.5 * ch + 4:.2f}" text-anchor="end" '
        'font-size="11" font-weight="bold">sum</text>'
    )
    longest = max(len(s) for s in labels)
    every = _label_every(n_cols, cw, 7 * longest + 6)
    for j in range(0, n_cols, every):
        out.append(
            f'<text class="col-label" x="{_LEFT + (j + 0.5) * cw:.2f}" y="{axis_y + 14:.2f}" text-anchor="middle" '
            f'font-size="11">{escape(labels[j])}</text>'
        )
    x_title = f"step k at which {name} was used" if by == "step" else "lag t − k (loss step minus the step of the use)"
    x_mid = max(_LEFT + grid_w / 2, 0.56 * 12 * len(x_title) / 2 + 8)
    out.append(f'<text x="{x_mid:.1f}" y="{axis_y + 36:.1f}" text-anchor="middle">{escape(x_title)}</text>')
    if grid_h >= 100:  # beside a short grid the row labels L(t) say it, and a long title would hang below
        out.append(
            f'<text class="y-title" transform="translate(16 {_TOP + grid_h / 2:.1f}) rotate(-90)" '
            'text-anchor="middle">loss term L(t)</text>'
        )
    # the legend: the scale's decades, then zero and no gradient where present
    lx, ly = _LEFT + grid_w + 24, _TOP
    out.append(f'<text x="{lx:.1f}" y="{ly - 8:.1f}" font-size="11">‖term‖</text>')
    for k, (colour, text) in enumerate(scale.entries(present)):
        y = ly + 18 * k
        outline = ' stroke="#404040" stroke-width="0.6"' if colour == ZERO else ""
        out.append(
            f'<g class="legend"><rect x="{lx:.1f}" y="{y:.1f}" width="14" height="14" fill="{colour}"{outline}/>'
            f'<text x="{lx + 20:.1f}" y="{y + 11:.1f}" font-size="11" fill="{text_colour("#ffffff")}">'
            f"{escape(text)}</text></g>"
        )
    rows = len(scale.entries(present)) + int(marks.any())
    height = max(height, ly + 18 * rows + 8)
    out[0] = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" font-size="12">\n'
        f'<rect width="{width:.0f}" height="{height:.0f}" fill="white"/>'
    )
    if marks.any():
        y = ly + 18 * len(scale.entries(present))
        swatch = (
            f'<path d="M{lx + 2:.1f},{y + 2:.1f}L{lx + 12:.1f},{y + 12:.1f}M{lx + 12:.1f},{y + 2:.1f}L{lx + 2:.1f},'
            f'{y + 12:.1f}" stroke="black" stroke-width="1.5"/>'
            if detailed
            else f'<rect x="{lx:.1f}" y="{y:.1f}" width="14" height="14" fill="url(#marked)"/>'
        )
        out.append(
            f'<g class="legend"><rect x="{lx:.1f}" y="{y:.1f}" width="14" height="14" fill="white" stroke="#404040" '
            f'stroke-width="0.6"/>{swatch}<text x="{lx + 20:.1f}" y="{y + 11:.1f}" font-size="11">'
            f"{escape(marked_label)}</text></g>"
        )
    out.append("</svg>")
    return "\n".join(out) + "\n"
