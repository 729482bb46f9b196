"""viz.plot_ledger read back from its SVG: every cell where its loss term and step say, in the
colour of its number on the diagrams' scale, grey where no gradient can flow, labels beside
their rows and under their columns, nothing outside the picture or on top of the grid."""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import viz
from tinygrad_rnn import analysis, nn
from tinygrad_rnn import functional as F
from viz.scale import NO_GRADIENT, make_scale

NS = {"s": "http://www.w3.org/2000/svg"}


def _ledger(T=7, steps=None, param="W", seed=0):
    rng = np.random.default_rng(seed)
    model = nn.SeqToSeq(2, 4, 3, seed=seed)
    loss = F.sequence_loss(model(rng.normal(size=(T, 2, 2))), rng.integers(0, 3, size=(T, 2)), steps=steps)
    return analysis.ledger(loss, getattr(model, param))


def _read(path):
    root = ET.parse(path).getroot()
    rects = root.findall(".//s:rect", NS)

    def box(r):
        return tuple(float(r.get(k)) for k in ("x", "y", "width", "height"))

    cells = {(int(r.get("data-row")), int(r.get("data-col"))): (box(r), r) for r in rects if r.get("class") == "cell"}
    totals = {int(r.get("data-col")): (box(r), r) for r in rects if r.get("class") == "total"}
    texts = []
    for t in root.iter(f"{{{NS['s']}}}text"):
        content = "".join(t.itertext())
        half = 0.56 * float(t.get("font-size", 12)) * len(content) / 2 if t.get("text-anchor") == "middle" else 0
        texts.append((t.get("class"), float(t.get("x", "nan")), float(t.get("y", "nan")), content, half))
    return root, cells, totals, texts


@pytest.mark.parametrize("by", ["step", "lag"])
@pytest.mark.parametrize(("T", "steps"), [(7, None), (5, [3, 4]), (40, None)])
def test_every_cell_is_in_its_place_in_the_colour_of_its_number(tmp_path, by, T, steps):
    led = _ledger(T, steps)
    path = viz.plot_ledger(led, tmp_path / "ledger.svg", by=by)
    root, cells, totals, texts = _read(path)
    width, height = float(root.get("width")), float(root.get("height"))
    n_rows = len(led.loss_steps)
    lags = led.by_lag()[0]
    n_cols = len(led.steps) if by == "step" else len(lags)
    assert set(cells) == {(i, j) for i in range(n_rows) for j in range(n_cols)}
    (x0, y0, w, h), _ = cells[0, 0]
    norms = led.norms()
    drawn = []
    for (i, j), ((x, y, cw, ch), rect) in cells.items():
        assert (x, y) == pytest.approx((x0 + j * w, y0 + i * h), abs=0.5) and (cw, ch) == (w, h)  # row i, column j
        if by == "step":
            k, reached = j, led.reached[i, j]
        else:  # column j is the lag lags[j] = loss step minus use step
            k = led.steps.index(led.loss_steps[i] - lags[j]) if led.loss_steps[i] - lags[j] in led.steps else None
            reached = k is not None and led.reached[i, k]
        if reached:
            assert float(rect.get("data-norm")) == pytest.approx(norms[i, k], rel=1e-12)
            drawn.append((rect.get("fill"), norms[i, k]))
        else:
            assert rect.get("fill") == NO_GRADIENT and rect.get("data-norm") == ""
    total_norms = [float(r.get("data-norm")) for _, r in totals.values() if r.get("data-norm")]
    scale = make_scale([v for _, v in drawn] + total_norms)
    assert all(fill == scale.colour(v) for fill, v in drawn)
    # the totals: one per column, under the grid, each the norm of its column's sum
    bottom = y0 + n_rows * h
    want = led.terms.sum(axis=0) if by == "step" else led.by_lag()[1]
    for j, ((x, y, _, _), rect) in totals.items():
        assert x == pytest.approx(x0 + j * w, abs=0.5) and y > bottom
        assert float(rect.get("data-norm")) == pytest.approx(float(np.linalg.norm(want[j].ravel())), rel=1e-12)
    # row labels beside their rows, column labels under their columns, all inside the picture
    for cls, x, y, text, half in texts:
        if cls == "row-label" and text != "sum":
            i = led.loss_steps.index(int(text[2:-1]))
            assert x <= x0 and y0 + i * h < y < y0 + (i + 1) * h + 4
        if cls == "col-label":
            j = (led.steps if by == "step" else list(lags)).index(int(text))
            assert x == pytest.approx(x0 + (j + 0.5) * w, abs=0.5) and y > bottom
        if not math.isnan(x):  # inside the picture (the estimate of a centred text's width is generous)
            assert 0 <= x - half and x + half <= width and 0 < y <= height, text
    legend_x = min(float(g.find("s:rect", NS).get("x")) for g in root.findall(".//s:g[@class='legend']", NS))
    assert legend_x > x0 + n_cols * w  # the legend is right of the grid, not on it


def test_the_title_fits_a_small_grid(tmp_path):
    path = viz.plot_ledger(_ledger(3, [2]), tmp_path / "small.svg")
    root, _, _, texts = _read(path)
    _, x, _, text, half = next(t for t in texts if t[3].startswith("Where the gradient"))
    assert 0 <= x - half and x + half <= float(root.get("width"))


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((np.zeros((3, 3)), "x.svg"), "pass the Ledger"),
        ((None, "x.png"), "write a .svg file"),
        ((None, "x.svg", "time"), "by must be 'step' or 'lag'"),
    ],
)
def test_bad_arguments(tmp_path, args, message):
    led = _ledger(3)
    first, name, *rest = args
    kwargs = {"by": rest[0]} if rest else {}
    with pytest.raises(viz.VizError, match=message):
        viz.plot_ledger(led if first is None else first, tmp_path / name, **kwargs)


@pytest.mark.parametrize("by", ["step", "lag"])
def test_the_terms_truncation_drops_are_crossed_out_where_they_are(tmp_path, by):
    rng = np.random.default_rng(1)
    model = nn.SeqToSeq(2, 3, 3, seed=1)
    xs, ys = rng.normal(size=(8, 2, 2)), rng.integers(0, 3, size=(8, 2))
    diff = next(d for d in analysis.truncation_diff(model, xs, ys, 2, 3) if d.name == "U")
    led, dropped = diff.full_ledger, diff.dropped_terms
    assert dropped.any() and not (dropped & diff.truncated_ledger.reached).any()
    path = viz.plot_ledger(led, tmp_path / "t.svg", by=by, marked=dropped, marked_label="dropped by truncation")
    root, cells, _, texts = _read(path)
    lags = list(led.by_lag()[0])
    want = set()
    for i, k in zip(*np.nonzero(dropped), strict=True):
        want.add((int(i), int(k) if by == "step" else lags.index(led.loss_steps[i] - led.steps[k])))
    assert {key for key, (_, r) in cells.items() if r.get("data-marked")} == want
    crosses = root.findall(".//s:path[@class='mark']", NS)
    assert len(crosses) == len(want)
    for path_el in crosses:  # each cross lies inside a marked cell
        x, y = (float(v) for v in path_el.get("d")[1:].split("L")[0].split(","))
        inside = [key for key, ((cx, cy, w, h), _) in cells.items() if cx < x < cx + w and cy < y < cy + h]
        assert len(inside) == 1 and inside[0] in want
    assert any(t[3] == "dropped by truncation" for t in texts)
    legend_bottom = max(float(r.get("y")) + 14 for r in root.findall(".//s:g[@class='legend']/s:rect", NS))
    assert legend_bottom <= float(root.get("height"))


def test_marked_must_fit_the_ledger(tmp_path):
    led = _ledger(4)
    with pytest.raises(viz.VizError, match=r"marked must be a boolean array of shape \(loss terms, steps\) = \(4, 4\)"):
        viz.plot_ledger(led, tmp_path / "x.svg", marked=np.ones((3, 4), dtype=bool))


def test_a_large_grid_is_drawn_as_runs_of_one_colour_that_cover_every_cell(tmp_path):
    rng = np.random.default_rng(2)
    model = nn.SeqToSeq(1, 4, 1, seed=2)
    xs, ys = rng.normal(size=(60, 1, 1)), rng.normal(size=(60, 1, 1))
    diff = next(d for d in analysis.truncation_diff(model, xs, ys, 10, 10, loss=F.mse) if d.name == "W")
    led, marked = diff.full_ledger, diff.dropped_terms
    path = viz.plot_ledger(led, tmp_path / "big.svg", marked=marked)
    root = ET.parse(path).getroot()
    norms = np.where(led.reached, led.norms(), np.nan)
    sums = led.terms.sum(axis=0).reshape(len(led.steps), -1)
    scale = make_scale([*norms[led.reached], *np.linalg.norm(sums, axis=1)])
    runs = root.findall(".//s:rect[@class='run']", NS)
    covered = np.zeros(norms.shape, dtype=int)
    for r in runs:
        i, a, n = int(r.get("data-row")), int(r.get("data-col")), int(r.get("data-cols"))
        covered[i, a : a + n] += 1
        want = {NO_GRADIENT if np.isnan(v) else scale.colour(float(v)) for v in norms[i, a : a + n]}
        assert want == {r.get("fill")}
    assert (covered == 1).all() and len(runs) < norms.size / 4
    hatched = np.zeros(norms.shape, dtype=bool)
    first = runs[0]
    x0, w = float(first.get("x")), float(first.get("width")) / int(first.get("data-cols"))
    y0, h = float(first.get("y")), float(first.get("height"))
    for r in root.findall(".//s:rect[@class='mark-run']", NS):
        i = round((float(r.get("y")) - y0) / h)
        a = round((float(r.get("x")) - x0) / w)
        hatched[i, a : a + round(float(r.get("width")) / w)] = True
    assert (hatched == marked).all() and marked.any()
    assert path.stat().st_size < 200_000


def test_a_ledger_without_tagged_steps_has_no_lag_view():
    from tinygrad_rnn import Tensor

    W = Tensor(np.ones((2, 2)), requires_grad=True)
    led = analysis.ledger((Tensor(np.ones((1, 2))) @ W).sum(), W)
    with pytest.raises(viz.VizError, match="no lags to show"):
        viz.plot_ledger(led, "x.svg", by="lag")
