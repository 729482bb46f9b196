"""viz.plot_gradient_norms: the SVG read back with ``xml.etree`` and checked number by number.

Underflow (exact zeros and subnormal norms drawn in strips under the log axis and counted),
overflow (inf and NaN in strips above it), decade ticks (every decade, or a round multiple,
the top one at or above the largest norm), each point's height against log10 of its norm,
thinning of long sequences, and the plot against the hidden states' ``.grad``. The long
recordings are built once per module.
"""

from __future__ import annotations

import math
import re
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn
import viz
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn import functional as F

SVG_NS = "{http://www.w3.org/2000/svg}"
TINY = float(np.finfo(np.float64).tiny)
ROUND_STEPS = (1, 2, 5, 10, 20, 50, 100, 200, 500)


# --- reading the SVG back ---------------------------------------------------------------------


def _read(path) -> ET.Element:
    return ET.parse(path).getroot()


def _classed(svg: ET.Element, tag: str, cls: str) -> list[ET.Element]:
    return [e for e in svg.iter(f"{SVG_NS}{tag}") if e.get("class") == cls]


def _yticks(svg: ET.Element) -> list[tuple[int, float]]:
    """(decade exponent, y) of each labelled decade, top to bottom."""
    ticks = []
    for g in _classed(svg, "g", "ytick"):
        (label,) = g.iter(f"{SVG_NS}text")
        (exponent,) = label.iter(f"{SVG_NS}tspan")
        assert label.text == "10"
        y = float(g.find(f"{SVG_NS}line").get("y1"))
        ticks.append((int(exponent.text), y))
    return sorted(ticks, key=lambda p: p[1])


def _xticks(svg: ET.Element) -> list[tuple[int, float]]:
    ticks = []
    for g in _classed(svg, "g", "xtick"):
        ticks.append((int(g.find(f"{SVG_NS}text").text), float(g.find(f"{SVG_NS}line").get("x1"))))
    return ticks


def _fit(pairs: list[tuple[float, float]]) -> tuple[float, float]:
    """(slope, intercept) of pixel = slope * value + intercept through the ticks, checked linear."""
    values, pixels = np.array(pairs, dtype=np.float64).T
    slope, intercept = np.polyfit(values, pixels, 1)
    assert np.max(np.abs(slope * values + intercept - pixels)) < 0.02
    return slope, intercept


def _segments(svg: ET.Element) -> list[np.ndarray]:
    """The drawn line: an (n, 2) array of (x, y) per polyline, one row per lone dot."""
    out = []
    for line in _classed(svg, "polyline", "norm-line"):
        out.append(np.array([[float(v) for v in p.split(",")] for p in line.get("points").split()]))
    for dot in _classed(svg, "circle", "norm-dot"):
        out.append(np.array([[float(dot.get("cx")), float(dot.get("cy"))]]))
    return sorted(out, key=lambda a: a[0, 0])


def _strip(svg: ET.Element, kind: str) -> tuple[int, list[float]]:
    """(steps counted, y of each bar) in the strip of ``kind`` (0 if the plot has none)."""
    groups = _classed(svg, "g", kind)
    if not groups:
        return 0, []
    (g,) = groups
    rects = list(g.iter(f"{SVG_NS}rect"))
    return sum(int(r.get("data-steps")) for r in rects), [float(r.get("y")) for r in rects]


def _texts(svg: ET.Element, cls: str | None = None) -> str:
    return " ".join("".join(t.itertext()) for t in svg.iter(f"{SVG_NS}text") if cls is None or t.get("class") == cls)


def _check_ticks(svg: ET.Element, norms: np.ndarray) -> tuple[int, list[int]]:
    """The labelled decades are evenly spaced by a round step, multiples of it, from at or below
    the smallest plotted norm to at or above the largest; returns (step, exponents)."""
    ticks = _yticks(svg)
    exponents = [e for e, _ in ticks]  # top to bottom
    assert len(exponents) >= 2
    steps = set(np.diff(exponents[::-1]).tolist())
    assert len(steps) == 1, exponents
    (every,) = steps
    assert every in ROUND_STEPS and all(e % every == 0 for e in exponents)
    ys = [y for _, y in ticks]
    assert min(np.diff(ys)) >= 19.9  # labels never overlap
    plotted = norms[np.isfinite(norms) & (norms >= TINY)]
    if len(plotted):
        assert exponents[0] >= math.log10(plotted.max()) and exponents[-1] <= math.log10(plotted.min())
        # the step is the smallest round one that fits: the next smaller would need too many labels
        smaller = [s for s in ROUND_STEPS if s < every]
        if smaller:
            s = smaller[-1]
            lo, hi = math.floor(math.log10(plotted.min())), math.ceil(math.log10(plotted.max()))
            n = (math.ceil(hi / s) * s - math.floor(lo / s) * s) // s
            assert n * 20 > ys[-1] - ys[0]
    return every, exponents


def _check_points(svg: ET.Element, steps: np.ndarray, norms: np.ndarray) -> None:
    """Every plotted norm is one drawn point, in step order, at x(t) and y = log10(norm)."""
    ya, yb = _fit([(e, y) for e, y in _yticks(svg)])
    xa, xb = _fit(_xticks(svg))
    on_axis = np.isfinite(norms) & (norms >= TINY)
    points = np.concatenate(_segments(svg)) if on_axis.any() else np.zeros((0, 2))
    points = points[np.argsort(points[:, 0], kind="stable")]
    assert len(points) == on_axis.sum()
    np.testing.assert_allclose(points[:, 0], xa * steps[on_axis] + xb, atol=0.02)
    np.testing.assert_allclose(points[:, 1], ya * np.log10(norms[on_axis]) + yb, atol=0.02)


def _states(norms) -> list[Tensor]:
    """Hidden states whose .grad has the given norm (None: no gradient reached it)."""
    out = []
    for v in norms:
        h = Tensor(np.zeros(2))
        h.grad = None if v is None else np.array([v, 0.0])
        out.append(h)
    return out


# --- the recordings ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def underflow():
    """3,000 steps of a seq2seq RNN, the cost on the last output only: the gradient reaching the
    early steps underflows through the subnormal numbers to exactly 0."""
    rng = np.random.default_rng(0)
    model = nn.SeqToSeq(input_size=2, hidden_size=3, output_size=3, seed=0)
    outputs = model(rng.normal(size=(3000, 1, 2)))
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(3000, 1)), steps=[-1])
    loss.backward()
    return loss


def _linear_rnn(steps: int, gain: float, seed: int = 0) -> list[Tensor]:
    """h(t) = h(t-1) W + x(t) U with W = gain * orthogonal, L = sum h(T): ‖∂L/∂h(t)‖ is
    sqrt(3) gain^(T-1-t), exactly geometric. Returns the hidden states after backward()."""
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(3, 3)))
    W = Tensor(gain * q, requires_grad=True, name="W")
    U = Tensor(rng.normal(size=(2, 3)), requires_grad=True, name="U")
    xs = rng.normal(size=(steps, 1, 2))
    h = Tensor(np.zeros((1, 3)), name="h0")
    hs = []
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(steps):
            with tinygrad_rnn.step(t):
                h = h @ W + Tensor(xs[t]) @ U
                h.name = "h"
            hs.append(h)
        h.sum().backward(retain_grads=True)
    return hs


@pytest.fixture(scope="module")
def long_vanishing():
    """10,000 linear steps shrinking the gradient 0.933 times a step: from ~1 to ~1e-301."""
    return _linear_rnn(10_000, 0.933)


# --- underflow --------------------------------------------------------------------------------


def test_underflowed_gradients_are_drawn_as_zeros_and_subnormals_under_the_axis(underflow, tmp_path):
    steps, norms = viz.plot_gradient_norms(underflow, tmp_path / "u.svg")  # used to raise a math domain error
    assert steps.tolist() == list(range(3000))
    zeros, subnormal = int((norms == 0).sum()), int(((norms > 0) & (norms < TINY)).sum())
    assert zeros > 1000 and subnormal > 0 and not np.isnan(norms).any()
    svg = _read(tmp_path / "u.svg")
    bottom = _yticks(svg)[-1][1]
    for kind, expected in (("zero", zeros), ("subnormal", subnormal)):
        count, ys = _strip(svg, kind)
        assert count == expected and all(y > bottom for y in ys)
    assert _strip(svg, "zero")[1][0] > _strip(svg, "subnormal")[1][0]  # 0 is the lowest strip
    legend = _texts(svg, "legend")
    assert f"0 (underflow): {zeros} steps" in legend and f"subnormal (0 < norm < 2.2e-308): {subnormal} steps" in legend
    assert "0 (underflow)" in _texts(svg) and "subnormal" in _texts(svg)
    _check_ticks(svg, norms)
    _check_points(svg, steps, norms)  # every other step is a point of the line
    # the zeros are the earliest steps: the gradient dies going back in time, and the strips say where
    assert norms[:zeros].max() == 0 and (norms[zeros:] > 0).all()


def test_long_vanishing_gradients_are_thinned_to_a_small_svg(long_vanishing, tmp_path):
    steps, norms = viz.plot_gradient_norms(long_vanishing, tmp_path / "v.svg")
    expected = math.sqrt(3) * 0.933 ** (9999 - np.arange(10_000))
    np.testing.assert_allclose(norms, expected, rtol=1e-9)
    svg = _read(tmp_path / "v.svg")
    every, exponents = _check_ticks(svg, norms)
    assert every == 20 and exponents[0] == 20 and exponents[-1] == -320
    assert (tmp_path / "v.svg").stat().st_size < 40_000
    (line,) = _segments(svg)
    assert 600 < len(line) <= 4 * 600  # at most 4 points (first, last, min, max) per pixel column
    assert not _classed(svg, "circle", "norm-point")  # no per-point tooltips for 10,000 points
    assert "10000 points drawn as" in _texts(svg, "note")
    # the kept points still lie on the line: x(t) and log10 of the norm at that t
    ya, yb = _fit(_yticks(svg))
    xa, xb = _fit(_xticks(svg))
    t = np.rint((line[:, 0] - xb) / xa).astype(int)
    assert t[0] == 0 and t[-1] == 9999
    np.testing.assert_allclose(line[:, 1], ya * np.log10(np.interp(line[:, 0], xa * steps + xb, norms)) + yb, atol=0.1)


def test_thinning_keeps_a_one_step_spike_and_the_zeros_between_points(tmp_path):
    values = [0.0 if i % 2 else 10.0 ** (-0.03 * (10_000 - i)) for i in range(10_000)]
    values[5001] = 1e5
    steps, norms = viz.plot_gradient_norms(_states(values), tmp_path / "s.svg")
    svg = _read(tmp_path / "s.svg")
    ya, yb = _fit(_yticks(svg))
    points = np.concatenate(_segments(svg))
    assert len(points) <= 4 * 600 and points[:, 1].min() == pytest.approx(ya * 5 + yb, abs=0.02)
    assert _strip(svg, "zero")[0] == 4999 and len(_strip(svg, "zero")[1]) < 10  # merged into few bars
    assert (tmp_path / "s.svg").stat().st_size < 40_000


# --- exploding, overflow ----------------------------------------------------------------------


def test_exploding_gradients_get_round_decade_ticks(tmp_path):
    hs = _linear_rnn(110, 3.0)
    steps, norms = viz.plot_gradient_norms(hs, tmp_path / "x.svg")
    np.testing.assert_allclose(norms, math.sqrt(3) * 3.0 ** (109 - np.arange(110)), rtol=1e-9)
    assert norms[0] > 1e52
    svg = _read(tmp_path / "x.svg")
    every, exponents = _check_ticks(svg, norms)
    assert every == 5 and exponents == list(range(55, -1, -5))
    _check_points(svg, steps, norms)
    assert not _classed(svg, "g", "zero") and not _classed(svg, "g", "inf") and not _texts(svg, "legend")
    tips = _classed(svg, "circle", "norm-point")  # 110 points: hover targets, not drawn dots
    assert len(tips) == 110 and all(c.get("fill-opacity") == "0" for c in tips)
    assert tips[0].find(f"{SVG_NS}title").text == f"t = 0: {norms[0]:.3e}"


def test_gradients_that_overflow_go_to_inf_and_nan_strips_above_the_axis(tmp_path):
    hs = _linear_rnn(800, 3.0)  # 3^800 overflows float64, forward and backward
    steps, norms = viz.plot_gradient_norms(hs, tmp_path / "o.svg")
    infs, nans = int(np.isinf(norms).sum()), int(np.isnan(norms).sum())
    assert infs >= 1 and nans >= 1
    svg = _read(tmp_path / "o.svg")
    top = _yticks(svg)[0][1]
    for kind, expected in (("inf", infs), ("nan", nans)):
        count, ys = _strip(svg, kind)
        assert count == expected and all(y < top for y in ys)
    assert f"inf (overflow): {infs} step" in _texts(svg, "legend")
    _check_ticks(svg, norms)
    _check_points(svg, steps, norms)


# --- ticks, points, notes ---------------------------------------------------------------------


def test_a_short_vanishing_plot_has_a_tick_at_every_decade_and_a_dot_per_step(tmp_path):
    rng = np.random.default_rng(0)
    model = nn.SeqToVec(input_size=2, hidden_size=8, output_size=3, seed=0)
    loss = F.cross_entropy(model(rng.normal(size=(40, 1, 2))), np.array([1]))
    loss.backward()
    steps, norms = viz.plot_gradient_norms(loss, tmp_path / "v40.svg", title="40 steps")
    assert norms.max() / norms.min() > 1e4
    svg = _read(tmp_path / "v40.svg")
    every, exponents = _check_ticks(svg, norms)
    assert every == 1
    assert exponents[0] == math.ceil(math.log10(norms.max())) and exponents[-1] == math.floor(math.log10(norms.min()))
    _check_points(svg, steps, norms)
    dots = _classed(svg, "circle", "norm-point")
    assert len(dots) == 40 and all(d.get("fill-opacity") is None for d in dots)
    titles = [d.find(f"{SVG_NS}title").text for d in dots]
    assert titles == [f"t = {t}: {v:.3e}" for t, v in zip(steps, norms, strict=True)]


def test_steps_the_gradient_did_not_reach_are_left_out_and_noted(tmp_path):
    values = [1.0, 0.1, None, 0.01, None, 1e-3, 0.0]
    steps, norms = viz.plot_gradient_norms(_states(values), tmp_path / "n.svg")
    assert np.isnan(norms[[2, 4]]).all()
    svg = _read(tmp_path / "n.svg")
    assert "Not drawn: 2 steps the gradient did not reach (t = 2, 4)." in _texts(svg, "note")
    assert _strip(svg, "nan") == (0, [])  # unreached is not a NaN gradient
    assert _strip(svg, "zero")[0] == 1
    assert len(_segments(svg)) == 3  # the line breaks where a step is missing: [0, 1], [3], [5]
    _check_points(svg, steps, norms)


def test_nothing_on_the_log_axis_still_draws_the_strips(tmp_path):
    steps, norms = viz.plot_gradient_norms(_states([0.0, 0.0, 1e-320]), tmp_path / "z.svg")
    svg = _read(tmp_path / "z.svg")
    assert _strip(svg, "zero")[0] == 2 and _strip(svg, "subnormal")[0] == 1 and not _segments(svg)
    assert "nothing to draw on the log axis" in _texts(svg, "note")


def test_no_gradient_at_all_is_an_error_naming_the_fix(tmp_path):
    with pytest.raises(viz.VizError, match=r"viz\.plot_gradient_norms: no gradient reached .*loss\.backward\(\)"):
        viz.plot_gradient_norms(_states([None, None]), tmp_path / "none.svg")
    assert not (tmp_path / "none.svg").exists()


_NORM = st.one_of(
    st.floats(-307.5, 308.2).map(lambda e: 10.0**e),
    st.floats(-5, 5).map(lambda e: 10.0**e),
    st.just(0.0),
    st.floats(float(np.finfo(np.float64).smallest_subnormal), float(np.nextafter(TINY, 0))),
    st.sampled_from([math.inf, math.nan, None]),
)


@given(values=st.lists(_NORM, min_size=1, max_size=60))
def test_any_mix_of_norms_is_drawn_counted_and_placed(values):
    kinds = {
        "zero": sum(v == 0 for v in values if v is not None),
        "subnormal": sum(0 < v < TINY for v in values if v is not None),
        "inf": sum(v == math.inf for v in values if v is not None),
        "nan": sum(v is not None and math.isnan(v) for v in values),
    }
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "m.svg"
        if all(v is None for v in values):
            with pytest.raises(viz.VizError, match="no gradient reached"):
                viz.plot_gradient_norms(_states(values), path)
            return
        steps, norms = viz.plot_gradient_norms(_states(values), path)
        svg = _read(path)
    for kind, expected in kinds.items():
        assert _strip(svg, kind)[0] == expected
    _check_ticks(svg, norms)
    _check_points(svg, steps, norms)
    unreached = sum(v is None for v in values)
    note = _texts(svg, "note")
    assert (f"Not drawn: {unreached} step" in note) == (unreached > 0)


# --- the plot against the hidden states (moved from test_viz.py) ------------------------------


def test_gradient_norm_plot_matches_the_hidden_states_grads(tmp_path):
    rng = np.random.default_rng(1)
    rnn = nn.RNN(input_size=2, hidden_size=4, seed=1)
    hs, h_T = rnn(rng.normal(size=(12, 1, 2)))
    loss = (h_T * h_T).sum() + hs[3].sum()
    loss.backward(retain_grads=True)
    expected = [np.linalg.norm(h.grad) for h in hs]
    steps, norms = viz.plot_gradient_norms(loss, tmp_path / "g.svg")
    assert steps.tolist() == list(range(12))
    np.testing.assert_allclose(norms, expected, rtol=1e-12)
    steps2, norms2 = viz.plot_gradient_norms(hs, tmp_path / "g2.svg")
    assert steps2.tolist() == steps.tolist() and np.array_equal(norms2, norms)
    np.testing.assert_array_equal(viz.gradient_norms(loss)[1], norms)
    svg = _read(tmp_path / "g.svg")
    (line,) = svg.iter(f"{SVG_NS}polyline")
    assert len(line.get("points").split()) == 12
    texts = _texts(svg)
    assert "time step t" in texts and "‖∂L/∂h(t)‖" in texts
    decades = math.floor(math.log10(norms.min())), math.ceil(math.log10(norms.max()))
    labels = [e for e, _ in _yticks(svg)]
    assert labels[-1] == decades[0] and labels[0] == decades[1]
    assert labels == list(range(decades[1], decades[0] - 1, -1))
    _check_points(svg, steps, norms)
    assert _read(tmp_path / "g2.svg").find(f"{SVG_NS}polyline").get("points") == line.get("points")


def test_gradient_norm_plot_takes_the_last_node_of_a_step_and_says_what_is_wrong(tmp_path):
    w = Tensor(np.array([0.5, -0.25]), requires_grad=True, name="w")
    total = None
    for t in range(3):
        with tinygrad_rnn.step(t):
            h = (w * (t + 1.0)).tanh()
            h.name = "h"
            h2 = h * 3.0
            h2.name = "h"  # two tensors named h in one step: the later one counts
            total = h2.sum() if total is None else total + h2.sum()
    total.backward()
    steps, norms = viz.plot_gradient_norms(total, tmp_path / "p.svg")
    assert steps.tolist() == [0, 1, 2]
    np.testing.assert_allclose(norms, [math.sqrt(2.0)] * 3)  # d total / d h2 = 1 for each element
    # one value at all steps: the axis still spans a decade, labelled, with the line on it
    svg = _read(tmp_path / "p.svg")
    assert [e for e, _ in _yticks(svg)] == [1, 0]
    _check_points(svg, steps, norms)
    with pytest.raises(viz.VizError, match="no tensor named 'z'"):
        viz.plot_gradient_norms(total, tmp_path / "p.svg", name="z")
    with pytest.raises(viz.VizError, match=r"viz\.plot_gradient_norms: .*\.svg"):
        viz.plot_gradient_norms(total, tmp_path / "p.png")
    with pytest.raises(tinygrad_rnn.errors.VizError, match="plot_gradient_norms"):
        viz.plot_gradient_norms([], tmp_path / "p.svg")


def test_the_svg_is_well_formed_text_with_the_title_escaped(tmp_path):
    title = "a < b & c: " + "long " * 40
    viz.plot_gradient_norms(_states([1.0, 0.5]), tmp_path / "t.svg", title=title)
    svg = _read(tmp_path / "t.svg")
    (head,) = [t for t in svg.iter(f"{SVG_NS}text") if t.text == title]
    width = float(svg.get("width"))
    assert float(head.get("font-size")) * 0.6 * len(title) <= width  # shrunk to fit, not clipped
    assert re.fullmatch(r"\d+", svg.get("height"))


# --- Jacobians through time (issue 16) -----------------------------------------------------------


def test_plot_jacobian_norms_puts_both_series_on_one_log_axis(tmp_path):
    import xml.etree.ElementTree as ET

    from tinygrad_rnn import analysis, nn

    model = nn.RNN(1, 5, seed=0)
    model.W.data *= 0.5
    h0 = Tensor(np.zeros((1, 5)), requires_grad=True)
    hs, _ = model(np.random.default_rng(0).normal(size=(12, 1, 1)), h0)
    result = analysis.jacobian_norms([h0, *hs])
    path = viz.plot_jacobian_norms(result, tmp_path / "jac.svg")
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    points = {"norm-point": {}, "second-point": {}}
    for c in root.iter(f"{ns}circle"):
        if c.get("class") in points:
            t, _, v = c.find(f"{ns}title").text.partition(": ")
            points[c.get("class")][int(t[4:])] = (float(c.get("cx")), float(c.get("cy")), float(v))
    assert sorted(points["norm-point"]) == list(range(13)) and sorted(points["second-point"]) == list(range(1, 13))
    for t, (_, _, v) in points["norm-point"].items():
        assert v == pytest.approx(result.to_last[t], rel=1e-3)
    for t, (_, _, v) in points["second-point"].items():
        assert v == pytest.approx(result.one_step[t - 1], rel=1e-3)
    # one axis for both: x linear in t, y linear in log10 of the value, the same lines for both series
    every = [p for series in points.values() for p in series.items()]
    (t0, (x0, y0, v0)), (t1, (x1, y1, v1)) = min(every, key=lambda p: p[1][2]), max(every, key=lambda p: p[1][2])
    for t, (x, y, v) in every:
        assert x == pytest.approx(x0 + (t - t0) * (x1 - x0) / (t1 - t0), abs=0.05)
        assert y == pytest.approx(y0 + (np.log10(v) - np.log10(v0)) * (y1 - y0) / np.log10(v1 / v0), abs=0.3)
    dashed = [p for p in root.iter(f"{ns}polyline") if p.get("class") == "second-line"]
    assert dashed and all(p.get("stroke-dasharray") for p in dashed)
    with pytest.raises(viz.VizError, match="pass what tinygrad_rnn.analysis.jacobian_norms"):
        viz.plot_jacobian_norms(hs, tmp_path / "x.svg")


def test_plot_curves_draws_two_series_with_their_labels_and_refuses_bad_ones(tmp_path):
    import xml.etree.ElementTree as ET

    x = np.arange(1, 21)
    a, b = 10.0 ** -(x / 5), 10.0 ** -(x / 10)
    path = viz.plot_curves(tmp_path / "c.svg", (x, a, "fast"), (x, b, "slow"), title="two", y_label="loss")
    root = ET.parse(path).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    texts = ["".join(t.itertext()) for t in root.iter(f"{ns}text")]
    assert "fast: 20 steps" in texts and "slow: 20 steps" in texts and "loss (log scale)" in texts
    assert "training step" in texts
    first = {c.find(f"{ns}title").text for c in root.iter(f"{ns}circle") if c.get("class") == "norm-point"}
    second = {c.find(f"{ns}title").text for c in root.iter(f"{ns}circle") if c.get("class") == "second-point"}
    assert f"t = 20: {a[-1]:.3e}" in first and f"t = 20: {b[-1]:.3e}" in second
    with pytest.raises(viz.VizError, match="'bad' needs integer x values and as many y values"):
        viz.plot_curves(tmp_path / "d.svg", (x, a[:5], "bad"), title="x")
    with pytest.raises(viz.VizError, match="write a .svg file"):
        viz.plot_curves(tmp_path / "d.png", (x, a, "a"), title="x")


def test_plot_curves_fits_a_second_series_longer_than_the_first(tmp_path):
    import xml.etree.ElementTree as ET

    path = viz.plot_curves(tmp_path / "c.svg", (np.arange(10), np.ones(10), "short"),
                           (np.arange(100), np.linspace(1, 2, 100), "long"), title="t")  # fmt: skip
    root = ET.parse(path).getroot()
    xs = [float(c.get("cx")) for c in root.iter("{http://www.w3.org/2000/svg}circle")]
    assert xs and max(xs) <= float(root.get("width"))
