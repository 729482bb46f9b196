"""viz: what the diagrams claim, read back from the rendered SVG (both renderers), the layout
and the DOT: every per-step mark in its own step, no line through any text, rows aligned, one
cost, an honest colour scale, delays only on real recurrences, elision of long recordings,
per-step shares that add up to .grad, determinism, notebooks, errors.

``svgread`` parses the SVG as a reader meets it (positions of texts and lines). Renders are
shared through module-scoped fixtures: the first in-process (WebAssembly) render of a process
takes about two seconds.
"""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import svgread
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn
import viz
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn import functional as F
from tinygrad_rnn.app.cli import unrolled_example
from tinygrad_rnn.autograd import edge_gradients, walk
from viz import scale as colours
from viz.layout import Rect, overlap

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ("U", "W", "b", "V", "c")
SVG_NS = "{http://www.w3.org/2000/svg}"
MAPPINGS = ("seq2seq", "seq2vec", "vec2seq", "encdec")
BACKENDS = ["wasm"] + (["dot"] if viz.has_dot() else [])


def seq2seq(steps: int, cost_steps: list[int] | None, hidden: int = 3, seed: int = 0) -> tuple[list[Tensor], nn.Module]:
    """Geron's setting: a seq2seq RNN, cross-entropy on the outputs ``cost_steps``."""
    rng = np.random.default_rng(seed)
    model = nn.SeqToSeq(input_size=2, hidden_size=hidden, output_size=3, seed=seed)
    outputs = model(rng.normal(size=(steps, 1, 2)))
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(steps, 1)), steps=cost_steps)
    model.zero_grad()
    loss.backward()
    return [loss, *outputs], model


def readme_loop(steps: int = 5) -> Tensor:
    """The README's hand-written loop: h0 (1, 4) and inputs x(t) (1, 2), U and W by hand."""
    rng = np.random.default_rng(0)
    U = Tensor(0.5 * rng.normal(size=(2, 4)), requires_grad=True, name="U")
    W = Tensor(0.5 * rng.normal(size=(4, 4)), requires_grad=True, name="W")
    h = Tensor(np.zeros((1, 4)))
    for t, x in enumerate(rng.normal(size=(steps, 1, 2))):
        with tinygrad_rnn.step(t):
            h = (h @ W + Tensor(x) @ U).tanh()
    loss = (h * h).sum()
    loss.backward()
    return loss


def output_recurrent(steps: int = 4, teacher_forcing: bool = False) -> list[Tensor]:
    """o(t-1) -> h(t): fed back (closed loop), or the targets fed instead (teacher forcing)."""
    rng = np.random.default_rng(0)
    model = nn.OutputRecurrentRNN(input_size=2, hidden_size=3, output_size=2, seed=0)
    xs, ys = rng.normal(size=(steps, 1, 2)), rng.normal(size=(steps, 1, 2))
    outputs = model(xs, targets=ys) if teacher_forcing else model(xs)
    loss = F.sequence_loss(outputs, rng.integers(0, 2, size=(steps, 1)))
    loss.backward()
    return [loss, *outputs]


DRAWINGS = (*viz.VIEWS, "forward:full", "backward:full")  # the views, and the unrolled ones in style="full"


def lstm_by_hand(steps: int = 3) -> Tensor:
    """Gates written out with Tensor ops: four weights on one concatenated input, c and h."""
    rng = np.random.default_rng(0)
    P = {n: Tensor(0.4 * rng.normal(size=(5, 3)), requires_grad=True, name=n) for n in ("Wf", "Wi", "Wo", "Wg")}
    h, c = Tensor(np.zeros((1, 3)), name="h0"), Tensor(np.zeros((1, 3)), name="c0")
    for t in range(steps):
        with tinygrad_rnn.step(t):
            z = Tensor.concat([Tensor(rng.normal(size=(1, 2)), name="x"), h], axis=1)
            f, i, o = (z @ P["Wf"]).sigmoid(), (z @ P["Wi"]).sigmoid(), (z @ P["Wo"]).sigmoid()
            c = f * c + i * (z @ P["Wg"]).tanh()
            c.name = "c"
            h = o * c.tanh()
            h.name = "h"
    loss = (h * h).sum()
    loss.backward()
    return loss


def gated(kind: str, steps: int = 3, layers: int = 1, bidirectional: bool = False) -> Tensor:
    """nn.LSTM / nn.GRU: h(t-1) feeds several gates of a step (drawn as one trunk and a bus)."""
    net = getattr(nn, kind)(2, 3, num_layers=layers, bidirectional=bidirectional, seed=0)
    outputs, _ = net(np.random.default_rng(0).normal(size=(steps, 1, 2)))
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    return loss


def vec2seq(cell: str, steps: int = 3) -> Tensor:
    """nn.VecToSeq: one x read by every step; a GRU reads it in z, r and the candidate's affine,
    three tensors of one column on three rows."""
    net = nn.VecToSeq(2, 3, 2, steps=steps, cell=cell, seed=0)
    loss = F.sequence_loss(net(np.ones((2, 2))), np.zeros((steps, 2), dtype=int))
    loss.backward()
    return loss


def padded(kind: str) -> Tensor:
    """A two-layer bidirectional network over a padded batch (lengths 2 and 4): every step
    blends the cell's new state with the last one by which sequences still run (constants
    [1, 1] or [0, 1] in the drawing) and zeroes the output past a sequence's end (h_out, the
    constant 0), and a backward run starts at the sequence's own end, from h0 on the right."""
    net = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True, seed=0)
    outputs, _ = net(np.random.default_rng(0).normal(size=(4, 2, 2)), lengths=[2, 4])
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    return loss


def encdec(cell: str) -> Tensor:
    """nn.EncoderDecoder: an encoder's steps, then a decoder's that feed their outputs back; the
    encoder's and the decoder's parameters share their short names (encoder.W_r, decoder.W_r)."""
    model = nn.EncoderDecoder(2, 3, 2, cell=cell, seed=0)
    loss = F.sequence_loss(model(np.random.default_rng(0).normal(size=(3, 1, 2)), steps=2), np.zeros((2, 1), dtype=int))
    loss.backward()
    return loss


def stacked(steps: int = 3) -> Tensor:
    first, second = nn.RNN(2, 3, seed=0), nn.RNN(3, 3, seed=1)
    hs, h_T = second(first(np.random.default_rng(0).normal(size=(steps, 1, 2)))[0])
    loss = (h_T * h_T).sum()
    loss.backward()
    return loss


def readout(steps: int = 4) -> Tensor:
    """The README's modules example: nn.RNN, then a Linear head on h(T) made after the loop."""
    rng = np.random.default_rng(0)
    _, h_T = nn.RNN(2, 3, seed=0)(rng.normal(size=(steps, 1, 2)))
    loss = F.cross_entropy(nn.Linear(3, 2, seed=0)(h_T), np.array([1]))
    loss.backward()
    return loss


def teacher_forced(steps: int = 4) -> list[Tensor]:
    return output_recurrent(steps, teacher_forcing=True)


def no_steps() -> Tensor:
    A = Tensor(np.eye(2), requires_grad=True, name="A")
    loss = (Tensor(np.ones((1, 2)), name="x") @ A).tanh().sum()
    loss.backward()
    return loss


CASES = {m: (lambda m=m: unrolled_example(m, 5, [2, 3, 4] if m != "seq2vec" else None)) for m in MAPPINGS}
CASES |= {"readme": readme_loop, "output_recurrent": output_recurrent, "lstm": lstm_by_hand, "stacked": stacked,
          "readout": readout, "teacher_forced": teacher_forced, "no_steps": no_steps}  # fmt: skip


def dying(steps: int = 30) -> list[Tensor]:
    """A tanh RNN with a small W, so that the gradient from h(T) dies within the drawn steps;
    its gradient clipped after backward (clip_grad_norm fires)."""
    model = nn.SeqToSeq(2, 3, 3, seed=1)
    model.W.data *= 0.3
    xs = np.random.default_rng(1).normal(size=(steps, 1, 2))
    outputs = model(xs)
    loss = F.sequence_loss(outputs, np.random.default_rng(2).integers(0, 3, size=(steps, 1)))
    loss.backward()
    tinygrad_rnn.optim.clip_grad_norm(model.parameters(), 0.1)
    return [loss, *outputs]


CASES |= {"nn_lstm": lambda: gated("LSTM"), "nn_gru": lambda: gated("GRU"),
          "nn_birnn": lambda: gated("RNN", bidirectional=True), "nn_lstm2": lambda: gated("LSTM", layers=2),
          "nn_bilstm": lambda: gated("LSTM", bidirectional=True), "nn_bigru": lambda: gated("GRU", bidirectional=True),
          "nn_birnn2": lambda: gated("RNN", layers=2, bidirectional=True), "vec2seq_gru": lambda: vec2seq("gru"),
          "vec2seq_lstm": lambda: vec2seq("lstm"), "nn_bilstm2": lambda: gated("LSTM", layers=2, bidirectional=True),
          "encdec_gru": lambda: encdec("gru"), "padded_birnn2": lambda: padded("RNN")}
#: the overlays of the backward view (split=, jacobians=), drawn on cases of their own
CASES |= {"split": lambda: unrolled_example("seq2seq", 5, [2, 3, 4]), "dying": dying}
OVERLAYS = {"split": {"split": True, "jacobians": True}, "dying": {"split": True, "jacobians": True, "max_steps": 6}}


def overlay(case: str, view: str, style: str) -> dict:
    """The overlay keywords a case is drawn with in ``view`` (split= only in the textbook style)."""
    if view not in ("backward", "both"):
        return {k: v for k, v in OVERLAYS.get(case, {}).items() if k == "max_steps"}
    return {k: v for k, v in OVERLAYS.get(case, {}).items() if k != "split" or style == "textbook"}


@pytest.fixture(scope="module")
def svgs():
    """Every case, view and renderer, rendered once: {(case, view, backend): (Diagram, Svg)}."""
    out = {}
    for case, make in CASES.items():
        roots = make()
        for view in DRAWINGS:
            name, _, style = view.partition(":")
            diagram = viz.draw(roots, name, style=style or "textbook", **overlay(case, name, style or "textbook"))
            for backend in BACKENDS:
                out[(case, view, backend)] = (diagram, svgread.parse(viz.to_svg(diagram.source, backend=backend)))
    return out


def _keys(pattern: str, svg: svgread.Svg) -> list[str]:
    return [k for k in svg.nodes if re.fullmatch(pattern, k)]


def _frames(svg: svgread.Svg) -> dict[int, svgread.Shape]:
    return {int(k[len("frame_t") :]): svg.nodes[k] for k in _keys(r"frame_t\d+", svg)}


def _inside(point: tuple[float, float], box: tuple[float, float, float, float]) -> bool:
    return box[0] <= point[0] <= box[2] and box[1] <= point[1] <= box[3]


def _to_box(point: tuple[float, float], box: tuple[float, float, float, float]) -> float:
    """How far ``point`` is from ``box`` (0 inside it)."""
    return math.hypot(max(box[0] - point[0], 0, point[0] - box[2]), max(box[1] - point[1], 0, point[1] - box[3]))


# --- every mark where it belongs ----------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("view", [d for d in DRAWINGS if d != "rolled"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_per_step_mark_is_inside_its_steps_frame_and_nearest_it(svgs, case, view, backend):
    """A parameter's mark for step k (its name forward, ‖∂L/∂W(k)‖ backward), and every tensor of
    step k, sit inside the frame titled t = k, the whole text, not only its centre. In
    style="full" a share is written where the parameter's line rises into step k, just under
    the frame: inside its width, nearer that frame than any other. (Nearer the frame, not its
    centre: an encoder's steps are wider than a decoder's, and a tensor at the right of the last
    encoder step is nearer the first decoder step's centre than its own.)"""
    diagram, svg = svgs[(case, view, backend)]
    full = view.endswith(":full")
    frames = _frames(svg)
    assert sorted(frames) == diagram.description.shown
    for k, frame in frames.items():
        titles = [t.text for t in svg.nodes[f"title_t{k}"].texts]
        assert titles and titles[0].startswith(f"t = {k}")
        assert _inside(svg.nodes[f"title_t{k}"].texts[0].centre, frame.box)
    marks = 0
    for key, node in svg.nodes.items():
        m = re.fullmatch(r"label_t(\d+)_.*", key)
        item = diagram.layout.items.get(key)
        step = int(m.group(1)) if m else item.step if item is not None and item.kind == "tensor" else None
        if step is None or step not in frames:
            continue
        for t in node.texts:
            shown = re.fullmatch(r"‖∂L/∂\w+\((\d+)\)‖", t.text)
            if shown:  # the text itself says which step
                assert int(shown.group(1)) == step, (key, t.text)
            centre = t.centre
            box = frames[step].box
            if full and key.startswith("label_"):
                box = (box[0], box[1], box[2], math.inf)  # under the frame, inside its width
            assert _inside(centre, box), (case, key, t.text, centre, frames[step].box)
            if not full or not key.startswith("label_"):  # the whole text, not just its centre
                left, top, right, bottom = t.box()
                assert _inside((left, top), box) and _inside((right, bottom), box), (case, key, t.text)
            nearest = min(frames, key=lambda s: _to_box(centre, frames[s].box))
            assert nearest == step, (case, key, t.text)
            marks += 1
    assert marks > 5 * len(frames) / 2 or not frames


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("view", DRAWINGS)
@pytest.mark.parametrize("case", list(CASES))
def test_no_line_crosses_any_text(svgs, case, view, backend):
    diagram, svg = svgs[(case, view, backend)]
    assert svgread.struck_texts(svg) == []
    assert diagram.layout.conflicts == []


def _to_segment(p, a, b) -> float:
    dx, dy = b[0] - a[0], b[1] - a[1]
    n = dx * dx + dy * dy
    t = 0.0 if n == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / n))
    return math.dist(p, (a[0] + t * dx, a[1] + t * dy))


def _to_path(p: tuple[float, float], points: list[tuple[float, float]]) -> float:
    return min((_to_segment(p, a, b) for a, b in zip(points, points[1:], strict=False)), default=math.inf)


@pytest.mark.parametrize("view", ["forward", "backward", "both"])
@pytest.mark.parametrize("case", list(CASES))
def test_every_label_is_nearer_its_own_line_than_any_other(svgs, case, view):
    """Read back from the SVG: a parameter's label (or a bias's, on its stub) is nearer the line
    it names than any other line, so that a reader pairs them right."""
    diagram, svg = svgs[(case, view, "wasm")]
    by_ends = {(x.tail, x.head): x.points for x in svg.lines}
    labelled = 0
    for line in diagram.layout.lines:
        ends = set(zip(line.points(), line.points()[1:], strict=False))
        if line.twin is not None:
            ends |= set(zip(line.twin.ids, line.twin.ids[1:], strict=False))
        for trunk in diagram.layout.lines:  # a branch's trunk and bus are its own line too
            if line.trunk is not None and trunk.trunk == line.trunk:
                ends |= set(zip(trunk.points(), trunk.points()[1:], strict=False))
        for key, node in svg.nodes.items():
            if not (key.startswith("label_") and key.endswith("_" + "_".join(line.ids))):
                continue
            centre = node.texts[0].centre if len(node.texts) == 1 else (
                (node.texts[0].centre[0] + node.texts[-1].centre[0]) / 2,
                (node.texts[0].centre[1] + node.texts[-1].centre[1]) / 2)  # fmt: skip
            own = min(_to_path(centre, pts) for e, pts in by_ends.items() if e in ends)
            other = min(_to_path(centre, pts) for e, pts in by_ends.items() if e not in ends)
            assert own < other + 1, (case, view, node.texts[0].text, round(own, 1), round(other, 1))
            labelled += 1
    assert labelled or case == "no_steps"
    assert diagram.layout.unpaired == []


def _lines_on_top_of_each_other(svg: svgread.Svg) -> list[tuple[str, str]]:
    """The pairs of drawn lines with pieces 4 pt or more on top of each other."""
    pieces = [(i, a, b) for i, x in enumerate(svg.lines) for a, b in zip(x.points, x.points[1:], strict=False)]
    return [(f"{svg.lines[i].tail}->{svg.lines[i].head}", f"{svg.lines[k].tail}->{svg.lines[k].head}")
            for j, (i, a, b) in enumerate(pieces) for k, c, d in pieces[j + 1 :]
            if k != i and overlap(a, b, c, d) >= 4]  # fmt: skip


@pytest.mark.parametrize("view", DRAWINGS)
def test_no_two_lines_run_on_top_of_each_other(svgs, view):
    for case in CASES:
        assert _lines_on_top_of_each_other(svgs[(case, view, "wasm")][1]) == [], case


@pytest.mark.parametrize("cell", ["SeqToSeq", "EncoderDecoder"])
def test_a_padded_lstms_lines_into_and_out_of_its_states_keep_apart(cell):
    """A padded batch's masks and carried states (a review's finding): the mask under s(0) came
    up into it where the carried state left it downward (14 pt on top of each other), and an
    encoder's carried h(0) ran level into h(1) on h(0)'s trunk into step 1's gates (400 pt)."""
    rng = np.random.default_rng(0)
    if cell == "SeqToSeq":
        model = nn.SeqToSeq(2, 3, 2, cell="lstm", seed=0)
        outputs = model(rng.normal(size=(4, 2, 2)), lengths=[4, 2])
    else:
        model = nn.EncoderDecoder(2, 3, 2, cell="lstm", seed=0)
        outputs = model(rng.normal(size=(3, 2, 2)), targets=rng.normal(size=(2, 2, 2)), lengths=[3, 2])
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    for view in ("forward", "backward"):
        svg = svgread.parse(viz.to_svg(viz.draw(loss, view).source, backend="wasm"))
        assert _lines_on_top_of_each_other(svg) == [], view


def test_no_text_overlaps_another(svgs):
    for (case, view, backend), (_, svg) in svgs.items():
        boxes = [(t, t.box(1.0)) for t in svg.texts() if t.text.strip()]
        for i, (a, ba) in enumerate(boxes):
            for b, bb in boxes[i + 1 :]:
                overlap = ba[0] < bb[2] and bb[0] < ba[2] and ba[1] < bb[3] and bb[1] < ba[3]
                assert not overlap, (case, view, backend, a.text, b.text)


def test_rows_line_up_across_steps_and_a_step_is_about_200_points_wide(svgs):
    diagram, svg = svgs[("seq2seq", "backward", "wasm")]
    for name in ("h", "o", "x"):
        ys = {round(svg.nodes[it.id].centre[1], 1) for it in diagram.layout.items.values()
              if it.kind == "tensor" and diagram.description.node(it.key).name == name}  # fmt: skip
        assert len(ys) == 1, name
    frames = _frames(svg)
    pitch = (frames[4].box[2] - frames[0].box[0]) / 5
    assert pitch < 215  # measured 207 pt; Goodfellow's five steps fit a README's width
    forward = svgs[("seq2seq", "forward", "wasm")][1]
    assert not _keys(r"legend.*", forward)  # no room kept for an invisible legend
    assert svg.width <= forward.width + 1  # the key sits under the drawing: it adds no width


@pytest.mark.parametrize("style", ["textbook", "full"])
@pytest.mark.parametrize("case", list(CASES))
def test_forward_and_backward_views_share_one_layout(svgs, case, style):
    if case in OVERLAYS:
        pytest.skip("an overlay's longer labels make room of their own in the backward view")
    suffix = "" if style == "textbook" else ":full"
    _, forward = svgs[(case, "forward" + suffix, "wasm")]
    _, backward = svgs[(case, "backward" + suffix, "wasm")]
    tensors = [k for k in forward.nodes if re.fullmatch(r"n\d+|frame_t\d+|cost|elided", k)]
    (ref,) = _keys(r"frame_t0|cost", forward)[:1]  # Graphviz translates each drawing by its own bounding box

    def where(svg, key):
        (x, y), (x0, y0) = svg.nodes[key].centre, svg.nodes[ref].centre
        return x - x0, y - y0

    assert tensors
    for key in tensors:
        assert math.dist(where(forward, key), where(backward, key)) < 0.5, key


@pytest.mark.skipif(not viz.has_dot(), reason="the Graphviz dot program is not installed")
@pytest.mark.parametrize("view", DRAWINGS)
@pytest.mark.parametrize("case", list(CASES))
def test_dot_and_the_in_process_renderer_draw_the_same_picture(svgs, case, view):
    _, a = svgs[(case, view, "wasm")]
    _, b = svgs[(case, view, "dot")]
    assert a.nodes.keys() == b.nodes.keys()
    for key in a.nodes:
        assert math.dist(a.nodes[key].centre, b.nodes[key].centre) < 1.0, key
    heads = lambda svg: sorted((x.tail, x.head, x.arrowheads) for x in svg.lines)  # noqa: E731
    assert heads(a) == heads(b)


@pytest.mark.skipif(not viz.has_dot(), reason="the Graphviz dot program is not installed")
@pytest.mark.parametrize("view", DRAWINGS)
def test_graphviz_renders_every_case_without_a_warning(svgs, view):
    """A diagram is a graphviz.Digraph: its own render(), pipe() and view() print what dot says.
    dot measured the text with its own font for "Helvetica" (DejaVu Sans, 27% wider) and warned
    "size too small for label" in every view (1,367 times over the cases); a one-letter label's
    width rounded up to whole points (V: 7 pt) did too."""
    for case in CASES:
        diagram, _ = svgs[(case, view, "dot")]
        done = subprocess.run(["dot", "-Tsvg"], input=diagram.source.encode(), capture_output=True, check=True)
        assert done.stderr.decode() == "", case


# --- both passes in one picture (Géron's figure) ------------------------------------------------


def _gap_between(p: list, q: list) -> list[float]:
    """How far each point of polyline ``p`` is from polyline ``q``, for the points that face a
    piece of ``q`` (their foot falls inside it: not beyond an end an arrowhead shortened)."""
    out = []
    for x in p:
        feet = []
        for a, b in zip(q, q[1:], strict=False):
            dx, dy = b[0] - a[0], b[1] - a[1]
            n = dx * dx + dy * dy
            t = -1.0 if n == 0 else ((x[0] - a[0]) * dx + (x[1] - a[1]) * dy) / n
            if 0.0 < t < 1.0:
                feet.append(math.dist(x, (a[0] + t * dx, a[1] + t * dy)))
        out += [min(feet)] if feet else []
    return out


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", ["seq2seq", "encdec", "readme", "teacher_forced"])
def test_both_passes_draw_a_dashed_forward_arrow_beside_each_solid_backward_one(svgs, case, backend):
    """view="both": each line that carries data has a dashed twin 5 pt beside it, with the
    forward arrowhead at the receiving node; the solid line keeps the backward arrowhead at the
    giving end; where nothing flows back (the outputs outside the cost) only the dashed twin is
    drawn."""
    diagram, svg = svgs[(case, "both", backend)]
    by_ends = {(x.tail, x.head): x for x in svg.lines}
    twins = [line for line in diagram.layout.lines if line.twin is not None]
    assert len(twins) >= 10
    dead = 0
    for line in twins:
        fwd = [by_ends[(a, b)] for a, b in zip(line.twin.ids, line.twin.ids[1:], strict=False)]
        assert all(piece.dashed for piece in fwd)
        assert [piece.arrowheads for piece in fwd] == [0] * (len(fwd) - 1) + [1]
        shaft = fwd[-1].points[-1]  # where the arrowhead (about 7 pt long) begins
        receiver = svg.nodes[line.ids[-1]].box
        assert _inside(shaft, (receiver[0] - 12, receiver[1] - 12, receiver[2] + 12, receiver[3] + 12)), line.ids
        main = [by_ends.get((a, b)) for a, b in zip(line.points(), line.points()[1:], strict=False)]
        if all(piece is None for piece in main):  # nothing flowed back along it
            dead += 1
            continue
        assert not any(piece.dashed for piece in main)
        path = [p for piece in main for p in piece.points]
        gaps = _gap_between([p for piece in fwd for p in piece.points], path)
        assert len(gaps) >= 2 and all(4.0 < d < 6.0 for d in gaps), (case, line.ids, gaps)
    graded = [o for o in diagram.description.nodes if o.drawn and o.name in ("o", "Y") and o.grad_norm is None]
    assert dead >= len(graded)
    if case == "seq2seq":  # o(0), o(1) are outside the cost: a forward arrow in, nothing back
        assert dead == 2 and len(graded) == 2


# --- one cost -------------------------------------------------------------------------------------


def test_the_cost_is_one_node_naming_the_outputs_it_reads_with_the_loss_and_one(svgs):
    roots = unrolled_example("seq2seq", 5, [2, 3, 4])
    loss = roots[0]
    for view, second in (("forward", f"L = {float(loss.data):.4g}"), ("backward", "∂L/∂L = 1")):
        diagram = viz.draw(roots, view)
        cost = diagram.layout.items["cost"]
        assert cost.lines == ["C(o(2), o(3), o(4))", second]
        tensors = [it for it in diagram.layout.items.values() if it.kind == "tensor"]
        assert not [it for it in tensors if it.lines[0] in ("+", "L(2)")]  # the sums and L(t) are folded
        risers = [line for line in diagram.layout.lines if line.role == "cost"]
        assert sorted(diagram.description.node(line.ids[0]).step for line in risers) == [2, 3, 4]
    raw = viz.draw(roots, "forward", fold_cost="none").layout.items
    assert "cost" not in raw and sum(it.lines[0] == "+" for it in raw.values() if it.kind == "tensor") == 2
    per_step = viz.draw(roots, "forward", fold_cost="steps").layout.items
    assert per_step["cost"].lines[0] == "C(L(2), L(3), L(4))"


@pytest.mark.parametrize("reads", [5, 6, 8])
def test_the_cost_node_and_the_caption_shorten_a_long_list_of_outputs_alike(reads):
    diagram = viz.draw(unrolled_example("seq2seq", 8, list(range(8 - reads, 8))), "backward")
    head = diagram.layout.items["cost"].lines[0]
    caption = " ".join(it.lines[0] for it in diagram.layout.items.values() if it.kind == "caption")
    listed = head[len("C(") : -1]
    assert f"the cost reads {listed}" in caption
    expected = [f"o({t})" for t in range(8 - reads, 8)]
    assert listed == ", ".join(expected if reads <= 5 else expected[:2] + ["…"] + expected[-2:])


def test_the_readme_loop_folds_its_untagged_cost_and_tells_its_two_products_apart():
    diagram = viz.draw(readme_loop(), "backward")
    assert diagram.layout.items["cost"].lines == ["C(tanh(4))", "∂L/∂L = 1"]
    firsts = sorted({it.lines[0] for it in diagram.layout.items.values() if it.kind == "tensor"})
    assert "@ W" in firsts and "@ U" in firsts


# --- the colour scale ---------------------------------------------------------------------------


def test_decade_bins_tell_a_factor_of_ten_apart_anywhere_in_the_range():
    s = colours.make_scale([1.0, 0.3, 2e-3, 5e-7])
    assert (s.low, s.high) == (-7, 1)
    picks = [s.colour(10.0 ** (k + 0.5)) for k in range(-7, 1)]
    assert len(set(picks)) == 8 and picks == sorted(picks, key=colours.PALETTE.index)
    assert s.colour(0.0) == colours.ZERO and s.colour(None) == colours.NO_GRADIENT
    assert s.colour(math.inf) == s.colour(math.nan) == colours.NON_FINITE
    assert s.colour(1e-9) == colours.SMALLER  # below the lowest decade: "smaller"
    wide = colours.make_scale([1.0, 1e-30])
    assert wide.high - wide.low == colours.DECADES and wide.colour(1e-30) == colours.SMALLER
    fixed = colours.make_scale([5e-3], vmin=1e-6, vmax=1.0)
    assert (fixed.low, fixed.high, fixed.fixed) == (-6, 0, True)
    assert fixed.entries()[0][1] == "≥ 1e-01" and fixed.entries()[-1][1] == "< 1e-06"
    for bad in ({"vmin": 0}, {"vmax": -1}, {"vmin": 1.0, "vmax": 0.5}, {"vmin": 1e-12, "vmax": 1.0}):
        with pytest.raises(viz.VizError, match="vmin|vmax"):
            colours.make_scale([1.0], **bad)


def _fills(diagram) -> dict[str, str]:
    """The fill of every node as the rendered SVG paints it."""
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    return {key: (node.fill or "").lower() for key, node in svg.nodes.items()}


def test_the_scale_comes_from_the_drawn_nodes_and_zero_has_its_own_colour():
    """At T = 10,000 with the cost on the last step the elided steps' gradients underflow; the
    scale covers only the drawn ones, so the visible vanishing shows in several colours."""
    (loss, *_), _ = seq2seq(10_000, [9_999])
    diagram = viz.draw(loss, "backward")
    desc = diagram.description
    drawn = [n.grad_norm for n in desc.nodes if n.drawn and n.name == "h" and n.grad_norm]
    top = math.floor(math.log10(max(drawn))) + 1
    assert any(line[1] == f"1e{top - 1:+03d} – {colours._power(top)}" for line in _legend(diagram))
    fills = _fills(diagram)
    hs = {n.key: n.grad_norm for n in desc.nodes if n.drawn and n.name == "h" and n.grad_norm}
    by_decade: dict[int, set[str]] = {}
    for key, g in hs.items():
        by_decade.setdefault(math.floor(math.log10(g)), set()).add(fills[key])
    assert len(by_decade) >= 2 and len({c for cs in by_decade.values() for c in cs}) == len(by_decade)
    zero = viz.draw(unrolled_example("seq2seq", 5, [2, 3, 4]), "backward")  # ‖∂L/∂W(0)‖ = 0 (h0 = 0)
    assert "exactly 0" in [text for _, text in _legend(zero)]
    assert any(it.lines == ["‖∂L/∂W(0)‖", "0"] for it in zero.layout.items.values() if it.kind == "label")


def _legend(diagram) -> list[tuple[str, str]]:
    items = diagram.layout.items
    swatches = [i for i in range(30) if f"legend{i}" in items]
    return [(items[f"legend{i}"].lines[0], items[f"legend{i}_text"].lines[0]) for i in swatches]


def test_vmin_and_vmax_fix_the_scale_so_that_diagrams_compare():
    a = viz.draw(unrolled_example("seq2seq", 5, None, seed=1), "backward", vmin=1e-6, vmax=10)
    b = viz.draw(unrolled_example("seq2seq", 5, None, seed=2), "backward", vmin=1e-6, vmax=10)
    assert _legend(a) == _legend(b) and _legend(a)[0][1] == "≥ 1"
    assert "scale fixed by vmin/vmax" in a.layout.items["legend_title"].lines[0]


def test_inf_and_nan_gradients_are_drawn_in_their_own_colour(tmp_path):
    W = Tensor(np.array([[1.0, 0.0], [0.0, 1.0]]), requires_grad=True, name="W")
    x = Tensor(np.array([[0.0, 1.0]]))
    with tinygrad_rnn.step(0):
        h = x @ W  # h[0, 0] = 0
        h.name = "h"
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = h.log().sum()  # d log(0) = inf, and inf * 0 = nan in W's gradient
        loss.backward()
    assert not np.isfinite(W.grad).all()
    diagram = viz.draw([loss, h], "backward")
    assert _fills(diagram)[diagram.description.roots[1]] == colours.NON_FINITE
    assert ("#6a3d9a", "inf or NaN") in _legend(diagram)
    svgread.parse(viz.to_svg(diagram.source, backend="wasm"))


# --- the rolled view ------------------------------------------------------------------------------


def _delays(diagram) -> list:
    return _delays_of(diagram.layout)


def _delays_of(layout) -> list:
    return [line for line in layout.lines if line.role == "recurrent"]


def _role_name(diagram, item_id: str) -> str:
    return diagram.layout.items[item_id].lines[0]


@pytest.mark.parametrize(
    ("case", "loops"),
    [
        ("seq2seq", [("h", "h")]),
        ("seq2vec", [("h", "h")]),
        ("vec2seq", [("h", "h")]),
        ("encdec", [("h", "h"), ("h", "h")]),
        ("output_recurrent", [("o", "h")]),
        ("readme", [("tanh", "@ W")]),
        ("nn_birnn", [("h", "h"), ("h_reverse", "h_reverse")]),  # a backward direction's recurrence too
        ("nn_lstm", [("s", "×"), ("h", "f"), ("h", "g"), ("h", "i"), ("h", "o_gate")]),  # s: a second path
    ],
)
def test_the_rolled_view_puts_delays_on_real_recurrences_only(svgs, case, loops):
    diagram, svg = svgs[(case, "rolled", "wasm")]
    found = sorted((_role_name(diagram, line.ids[0]), _role_name(diagram, line.ids[-1])) for line in _delays(diagram))
    assert found == sorted(loops)
    squares = [k for k in svg.nodes if k.startswith("delay") and not k.endswith(("_out", "_in"))]
    assert len(squares) == len(loops)
    folded = ("L",) if case in ("readme", "nn_lstm") else ("+", "L")  # a cell's own sum is not the cost's
    assert not [it for it in diagram.layout.items.values() if it.kind == "tensor" and it.lines[0] in folded]
    assert sum(it.kind == "cost" for it in diagram.layout.items.values()) == 1


def test_the_rolled_view_labels_each_line_with_the_parameter_acting_on_it(svgs):
    diagram, _ = svgs[("seq2seq", "rolled", "wasm")]
    layout = diagram.layout
    labels = {it.lines[0]: it for it in layout.items.values() if it.kind == "label"}
    assert {"U ×5", "W ×4", "V ×5", "b", "c", "W"} <= set(labels)  # W on h0 -> h once, on the loop 4 times
    (loop,) = _delays(diagram)
    square = layout.items[loop.ids[2]].rect
    assert math.dist((labels["W ×4"].rect.cx, labels["W ×4"].rect.cy), (square.cx, square.cy)) < 60


def test_the_rolled_view_keeps_initial_states_and_inputs_apart_and_the_hand_off_plain(svgs):
    diagram, _ = svgs[("readme", "rolled", "wasm")]
    names = sorted(it.lines[0] for it in diagram.layout.items.values() if it.kind == "tensor")
    assert names.count("const") == 2  # h0 (1, 4) and x(t) (1, 2): two roles
    shapes = sorted(it.lines[1] for it in diagram.layout.items.values() if it.lines[:1] == ["const"])
    assert shapes == ["(1, 2) ×5", "(1, 4)"]
    encdec, _ = svgs[("encdec", "rolled", "wasm")]
    hs = [it.id for it in encdec.layout.items.values() if it.kind == "tensor" and it.lines[0] == "h"]
    hand_off = [x for x in encdec.layout.lines if x.ids[0] in hs and x.ids[-1] in hs and x.ids[0] != x.ids[-1]]
    assert len(hand_off) == 1 and hand_off[0].role == "data"


def test_the_rolled_view_keeps_two_parameters_that_share_a_name_apart():
    first, second = nn.RNN(3, 4, seed=0), nn.RNN(4, 4, seed=1)  # both name their weights U, W, b
    hs, _ = second(first(np.ones((3, 2, 3)))[0])
    layout = viz.draw(hs[-1].sum(), "rolled").layout
    hs_roles = [it for it in layout.items.values() if it.kind == "tensor" and it.lines[0] == "h"]
    assert sorted(it.lines[1] for it in hs_roles) == ["(2, 4) ×3", "(2, 4) ×3"] and len(_delays_of(layout)) == 2


# --- long recordings ------------------------------------------------------------------------------


def test_a_long_recording_is_read_only_near_the_drawn_steps():
    """Drawing 5,000 steps with the default max_steps looks at the 12 drawn steps and their
    neighbours, not at the 4,988 others (no numbers read, no rules replayed for them)."""
    (loss, *_), _ = seq2seq(5_000, [4_999])
    diagram = viz.draw(loss, "backward")
    desc = diagram.description
    assert len(desc.steps) == 5_000 and len(desc.shown) == 12 and desc.elided == 4_988
    assert len(desc.nodes) < 60 * 14 and len(desc.edges) < 6 * 60 * 14
    assert diagram.layout.items["elided"].lines == ["… 4988 steps …"]
    assert "4988 not drawn" in diagram.layout.items["caption"].lines[0]


def test_elision_sits_where_the_drawn_steps_skip_recorded_ones_even_with_gapped_step_numbers():
    W = Tensor(np.eye(2) * 0.5, requires_grad=True, name="W")
    h = Tensor(np.ones((1, 2)), name="h0")
    for t in range(0, 20, 2):  # steps 0, 2, ..., 18
        with tinygrad_rnn.step(t):
            h = (h @ W).tanh()
            h.name = "h"
    layout = viz.draw(h.sum(), max_steps=4).layout
    assert sorted(layout.frames) == [0, 2, 16, 18]
    elided = layout.items["elided"]
    assert elided.lines == ["… 6 steps …"]
    assert layout.frames[2].rect.right < elided.rect.cx < layout.frames[16].rect.left


@pytest.mark.parametrize("view", ["forward", "backward"])
def test_each_recurrence_crosses_the_elision_level_through_a_mark_in_its_own_row(view):
    """A 2-layer bidirectional RNN over 14 steps, 4 drawn: its four states (h_l1, h_l1_reverse,
    h, h_reverse) each cross the gap level, through a mark at their own height (the text
    "… 10 steps …" in one row, "⋯" in the others). Before, all eight lines converged on one
    mark in the bottom row, diagonally across the frames: one of them through a node's text."""
    net = nn.RNN(2, 3, num_layers=2, bidirectional=True, seed=0)
    _, h = net(np.random.default_rng(0).normal(size=(14, 1, 2)))
    loss = (h * h).sum()
    loss.backward()
    diagram = viz.draw(loss, view, max_steps=4)
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    marks = {k: s for k, s in svg.nodes.items() if re.fullmatch(r"elided\d*", k)}
    assert sorted(t.text for s in marks.values() for t in s.texts) == ["… 10 steps …", "⋯", "⋯", "⋯"]
    crossing = [x for x in svg.lines if x.tail in marks or x.head in marks]
    assert len(crossing) == 8  # into and out of each mark
    for x in crossing:
        ys = [y for _, y in x.points]
        assert max(ys) - min(ys) < 1, (x.tail, x.head, x.points)  # level
        state = svg.nodes[x.head if x.tail in marks else x.tail]
        mark = marks[x.tail if x.tail in marks else x.head]
        assert abs((state.box[1] + state.box[3]) / 2 - mark.texts[0].y) < 5  # beside the state (baseline)
    assert {x.tail for x in crossing} & set(marks) == set(marks) == {x.head for x in crossing} & set(marks)
    assert svgread.struck_texts(svg) == [] and _lines_on_top_of_each_other(svg) == []
    assert diagram.layout.conflicts == []


def test_too_large_a_graph_raises_and_suggests_max_steps():
    roots, _ = seq2seq(30, None)
    with pytest.raises(viz.VizError, match="max_steps"):
        viz.draw(roots, max_nodes=20)


# --- per-step shares ------------------------------------------------------------------------------


@given(steps=st.integers(1, 6), data=st.data(), seed=st.integers(0, 2**16))
def test_per_step_shares_add_up_to_each_parameters_grad_and_label_their_lines(steps, data, seed):
    cost = data.draw(st.sets(st.integers(0, steps - 1), min_size=1).map(sorted), label="cost steps")
    roots, model = seq2seq(steps, cost, hidden=2, seed=seed)
    loss = roots[0]
    carried = edge_gradients(loss)
    diagram = viz.draw(roots, "backward")
    desc = diagram.description
    labels = {it.id: it for it in diagram.layout.items.values() if it.kind == "label"}
    for name, param in zip(PARAMS, (model.U, model.W, model.b, model.V, model.c), strict=True):
        per_step: dict[int, np.ndarray] = {}
        for t in walk(loss):
            for i, p in enumerate(t.parents):
                if p is param and (id(t), i) in carried:
                    per_step[t.step] = per_step.get(t.step, 0) + carried[(id(t), i)]
        np.testing.assert_allclose(sum(per_step.values()), param.grad, rtol=0, atol=1e-12)
        key = next(n.key for n in desc.nodes if n.name == name)
        assert desc.totals[key] == pytest.approx(np.linalg.norm(param.grad), rel=1e-12)
        total = f"‖∂L/∂{name}‖ = {viz.layout.fmt(float(np.linalg.norm(param.grad)))}"
        assert total in " ".join(diagram.layout.items["totals"].lines)
        for t, g in per_step.items():  # the label of step t on the line W acts on shows that step's share
            norm = float(np.linalg.norm(g))
            assert desc.contributions[(key, t)] == pytest.approx(norm, rel=1e-12, abs=1e-300)
            mine = [it for it in labels.values() if it.key == key and it.step == t]
            assert mine and all(it.lines == [f"‖∂L/∂{name}({t})‖", viz.layout.fmt(desc.contributions[(key, t)])]
                                for it in mine)  # fmt: skip


@given(batch=st.integers(1, 3), steps=st.integers(1, 4), seed=st.integers(0, 2**16))
def test_a_parameter_used_twice_in_a_step_shows_the_sum_of_both_uses(batch, steps, seed):
    """The step's share ‖∂L/∂W(t)‖ is the norm of the sum over its uses (not of one use), and a
    bias broadcast over the batch is reduced to its shape: checked against W and b untied into
    a fresh copy per use, whose own .grad is exactly what that use contributed."""

    def unroll(weights, biases):
        h = Tensor(np.random.default_rng(seed).normal(size=(batch, 3)))
        for t in range(steps):
            with tinygrad_rnn.step(t):
                h = ((h @ weights[2 * t] + biases[t]).tanh() @ weights[2 * t + 1]).tanh()
        return (h * h).sum()

    rng = np.random.default_rng(seed + 1)
    W = Tensor(rng.normal(size=(3, 3)), requires_grad=True, name="W")
    b = Tensor(rng.normal(size=3), requires_grad=True, name="b")
    loss = unroll([W] * (2 * steps), [b] * steps)
    loss.backward()
    Ws = [Tensor(W.data.copy(), requires_grad=True) for _ in range(2 * steps)]
    bs = [Tensor(b.data.copy(), requires_grad=True) for _ in range(steps)]
    unroll(Ws, bs).backward()

    desc = viz.describe(loss)
    key = {n.name: n.key for n in desc.nodes if n.kind == "parameter"}
    for t in range(steps):
        both_uses = Ws[2 * t].grad + Ws[2 * t + 1].grad
        assert desc.contributions[(key["W"], t)] == pytest.approx(np.linalg.norm(both_uses), rel=1e-12)
        assert desc.contributions[(key["b"], t)] == pytest.approx(np.linalg.norm(bs[t].grad), rel=1e-12)
    np.testing.assert_allclose(sum(w.grad for w in Ws), W.grad, rtol=1e-12)
    assert not desc.accumulated


def test_backward_view_shows_only_the_last_loss_gradients():
    """Outputs left out of the cost keep the .grad an earlier backward() through another loss gave
    them (backward only resets what it reaches); the diagram must not show those."""
    roots, model = seq2seq(6, None, seed=3)  # cost on every output, backward done
    outputs = [t for t in walk(roots[0]) if t.name == "o"]
    model.zero_grad()
    loss = F.sequence_loss(outputs, np.zeros((6, 1), dtype=int), steps=[-3, -2, -1])
    loss.backward()
    desc = viz.describe([loss, *outputs])
    norms = {n.step: n.grad_norm for n in desc.nodes if n.name == "o"}
    assert [norms[t] for t in range(3)] == [None, None, None] and all(norms[t] > 0 for t in (3, 4, 5))
    V = next(n.key for n in desc.nodes if n.name == "V")
    assert sorted(s for (k, s) in desc.contributions if k == V) == [3, 4, 5]


def test_a_total_that_holds_earlier_backward_passes_says_so():
    roots, _ = seq2seq(3, None, seed=4)
    assert "earlier passes" not in viz.draw(roots, "backward").source
    roots[0].backward()  # no zero_grad: every .grad now holds two passes, the per-step shares one
    desc = viz.describe(roots)
    assert {n.name for n in desc.nodes if n.key in desc.accumulated} == set(PARAMS)
    totals = " ".join(viz.draw(roots, "backward").layout.items["totals"].lines)
    assert totals.count("(with earlier passes, or changed after backward)") == 5


def test_norms_of_huge_gradients_do_not_overflow():
    W = Tensor(np.full((2, 2), 1e200), requires_grad=True, name="W")
    loss = (Tensor(np.full((1, 2), 1e100)) @ W).sum()  # 2e300, finite
    loss.backward()  # W.grad = 1e100 everywhere: squaring it would overflow
    (node,) = [n for n in viz.describe(loss).nodes if n.name == "W"]
    assert node.norm == pytest.approx(2e200, rel=1e-12) and node.grad_norm == pytest.approx(2e100, rel=1e-12)


# --- determinism, files, notebooks, errors ---------------------------------------------------------


def test_the_same_program_gives_byte_identical_dot():
    roots, _ = seq2seq(5, [2, 3, 4])
    again, _ = seq2seq(5, [2, 3, 4])
    for view in viz.VIEWS:
        assert viz.draw(roots, view).source == viz.draw(again, view).source


_PROGRAM = """
import viz
from tinygrad_rnn.app.cli import unrolled_example
roots = unrolled_example("seq2seq", 5, [2, 3, 4])
print("\\x00".join(viz.draw(roots, view).source for view in viz.VIEWS), end="")
"""


def test_dot_is_identical_across_processes_and_hash_seeds():
    """No id() and no set or hash order reaches the DOT: two interpreters with different hash
    seeds, and this one, write the same bytes."""
    outputs = []
    for seed in ("1", "2"):
        env = {"PYTHONHASHSEED": seed, "PATH": "/usr/bin:/bin"}
        done = subprocess.run(
            [sys.executable, "-c", _PROGRAM], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120
        )
        assert done.returncode == 0, done.stderr
        outputs.append(done.stdout)
    here = "\x00".join(viz.draw(unrolled_example("seq2seq", 5, [2, 3, 4]), view).source for view in viz.VIEWS)
    assert outputs[0] == outputs[1] == here


@pytest.fixture
def no_dot(monkeypatch):
    monkeypatch.setattr(importlib.import_module("viz.engines"), "has_dot", lambda: False)


def test_a_diagram_shows_itself_in_a_notebook_as_asked(no_dot):
    diagram = viz.draw(unrolled_example("seq2seq", 3, None), "backward", size=6)
    svg = diagram._repr_svg_()
    assert ET.fromstring(svg).tag == f"{SVG_NS}svg"
    assert diagram._repr_mimebundle_() == {"image/svg+xml": svg}
    assert diagram._repr_mimebundle_(include=["text/plain"]) == {}
    assert diagram._repr_mimebundle_(exclude=["image/svg+xml"]) == {}
    width = float(re.search(r'width="([\d.]+)pt"', svg).group(1))
    assert width <= 6 * 72 + 1  # size=6 inches: fits a notebook cell
    with pytest.raises(viz.VizError, match="size"):
        viz.draw(unrolled_example("seq2seq", 3, None), size="huge")


def test_bad_options_name_the_fix():
    roots = unrolled_example("seq2seq", 3, None)
    with pytest.raises(viz.VizError, match="style must be one of textbook"):
        viz.draw(roots, style="fancy")
    with pytest.raises(viz.VizError, match="fold_cost"):
        viz.draw(roots, fold_cost="all")
    with pytest.raises(viz.VizError, match="view must be one of"):
        viz.draw(roots, "sideways")
    with pytest.raises(viz.VizError, match="vmin must be below vmax"):
        viz.draw(roots, "backward", vmin=1, vmax=0.1)
    fresh = unrolled_example("seq2seq", 3, None)
    fresh[0].grad = None
    with pytest.raises(viz.VizError, match="call loss.backward"):
        viz.draw(readme_loop_without_backward(), "backward")


def readme_loop_without_backward() -> Tensor:
    W = Tensor(np.eye(2), requires_grad=True, name="W")
    return (Tensor(np.ones((1, 2))) @ W).sum()


@pytest.mark.skipif(not viz.has_dot(), reason="the Graphviz dot program is not installed")
def test_dot_program_writes_valid_svg_png_and_pdf(tmp_path):
    roots = unrolled_example("seq2seq", 3, None)
    for ext, magic in (("svg", b"<"), ("png", b"\x89PNG"), ("pdf", b"%PDF")):
        path = viz.render(roots, tmp_path / f"g.{ext}", view="backward", backend="dot")
        assert path.read_bytes().lstrip()[:4].startswith(magic)


@pytest.mark.parametrize("ext", ["png", "pdf"])
def test_png_and_pdf_without_dot_raise_and_name_the_fix(tmp_path, no_dot, ext):
    with pytest.raises(viz.VizError, match="install Graphviz"):
        viz.render(unrolled_example("seq2seq", 3, None), tmp_path / f"g.{ext}")


def test_unnamed_constants_and_parameters_get_a_first_line_and_render(tmp_path):
    W = Tensor(np.random.default_rng(0).normal(size=(4, 4)), requires_grad=True)  # no name
    y = (Tensor(np.ones((2, 4))) @ W).tanh().sum()  # an unnamed constant of 8 values
    y.backward()
    for view in viz.VIEWS:
        diagram = viz.draw(y, view)
        assert all(it.lines and it.lines[0] for it in diagram.layout.items.values() if it.kind in ("tensor", "cost"))
        assert "None" not in diagram.source
    for i in range(4):  # the in-process renderer used to fail on some of these, depending on the last render
        assert ET.parse(viz.render(y, tmp_path / f"y{i}.svg", backend="wasm")).getroot().tag == f"{SVG_NS}svg"


# --- the textbook figures -------------------------------------------------------------------------


def test_textbook_figures_are_regenerated(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("textbook_figures", ROOT / "examples" / "textbook_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start = time.perf_counter()
    paths = module.main(["--out", str(tmp_path)])
    assert time.perf_counter() - start < 60
    for p in paths:
        if p.suffix == ".svg":
            assert ET.parse(p).getroot().tag == f"{SVG_NS}svg"
    assert str(tmp_path) in capsys.readouterr().out


def test_the_readme_pictures_are_what_the_code_draws(tmp_path):
    """docs/figures holds the README's pictures: regenerating them gives the same bytes (run
    ``python examples/textbook_figures.py --out docs/figures`` after changing how viz draws)."""
    spec = importlib.util.spec_from_file_location("textbook_figures", ROOT / "examples" / "textbook_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.main(["--out", str(tmp_path)])
    shipped = sorted(p.name for p in (ROOT / "docs" / "figures").glob("*.svg"))
    assert shipped == sorted(p.name for p in tmp_path.glob("*.svg"))
    version = re.compile(rb"Generated by graphviz version [^\n]*")
    for name in shipped:
        new, old = (tmp_path / name).read_bytes(), (ROOT / "docs" / "figures" / name).read_bytes()
        if version.findall(new) != version.findall(old):  # another Graphviz: positions are pinned, bytes may differ
            pytest.skip(f"{name}: drawn here with {version.findall(new)}, shipped with {version.findall(old)}")
        assert new == old, f"{name} is stale: run python examples/textbook_figures.py --out docs/figures"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert all(f"docs/figures/{name}" in readme for name in shipped if name != "grad_norms.svg")


def test_the_rolled_view_of_a_long_recording_counts_exactly_and_keeps_its_labels_apart():
    roots = unrolled_example("seq2seq", 3_000, [2_999])
    diagram = viz.draw(roots, "rolled")
    firsts = {it.lines[0]: it.lines for it in diagram.layout.items.values() if it.kind == "tensor"}
    assert firsts["h"] == ["h", "(1, 3) ×3000"] and firsts["x"] == ["x", "(1, 2) ×3000"]
    labels = sorted(it.lines[0] for it in diagram.layout.items.values() if it.kind == "label")
    assert {"U ×3000", "W ×2999", "V ×3000", "W"} <= set(labels)
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    assert svgread.struck_texts(svg) == []
    boxes = [t.box(1.0) for t in svg.texts()]
    assert not any(a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3] for i, a in enumerate(boxes)
                   for b in boxes[i + 1 :])  # fmt: skip


# --- what a review of the first version found --------------------------------------------------


def test_a_readout_made_after_the_loop_sits_after_the_last_step_with_its_real_share():
    loss = readout()
    diagram = viz.draw(loss, "backward")
    layout, desc = diagram.layout, diagram.description
    (o,) = [it for it in layout.items.values() if it.kind == "tensor" and it.lines[0] == "@ V" or it.lines[:1] == ["o"]]
    assert o.rect.left > max(f.rect.right for f in layout.frames.values())
    V = next(n for n in desc.nodes if n.name == "V")
    (label,) = [it for it in layout.items.values() if it.kind == "label" and it.key == V.key]
    assert label.lines == ["‖∂L/∂V‖", viz.layout.fmt(desc.totals[V.key])] and desc.totals[V.key] > 0


@pytest.mark.parametrize("fold_cost", ["one", "steps", "none"])
@pytest.mark.parametrize("case", list(CASES))
def test_a_line_between_tensors_outside_the_steps_runs_through_no_frame(case, fold_cost):
    """Read back from the SVG: the labels of a loss made after the loop (y, read by
    cross_entropy) sit beside their reader, so their line does not run across the steps."""
    diagram = viz.draw(CASES[case](), "backward", fold_cost=fold_cost)
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    items = diagram.layout.items
    frames = _frames(svg)
    for line in svg.lines:
        a, b = items.get(line.tail), items.get(line.head)
        if a is None or b is None or {a.kind, b.kind} != {"tensor"} or a.step is not None or b.step is not None:
            continue
        pieces = list(zip(line.points, line.points[1:], strict=False))
        for k, frame in frames.items():
            assert not any(svgread.crosses(p, q, frame.box) for p, q in pieces), (line.tail, line.head, k)


def test_a_graph_without_steps_keeps_its_ops_and_says_it_has_no_steps():
    diagram = viz.draw(no_steps(), "backward")
    firsts = sorted(it.lines[0] for it in diagram.layout.items.values() if it.kind == "tensor")
    assert firsts == ["@ A", "tanh", "x"] and diagram.layout.items["cost"].lines[0] == "C(tanh)"
    assert "no time steps" in " ".join(diagram.layout.items["caption"].lines)
    assert len(_legend(diagram)) <= 4  # one decade, "smaller", and what is present: no empty bins


def test_each_use_of_a_parameter_shows_its_own_share():
    """W acts twice in every step (h W and (h W) W); each line shows what that use sent to W."""
    rng = np.random.default_rng(0)
    W = Tensor(0.5 * rng.normal(size=(3, 3)), requires_grad=True, name="W")
    h = Tensor(np.ones((1, 3)), name="h0")
    for t in range(3):
        with tinygrad_rnn.step(t):
            h = ((h @ W).tanh() @ W).tanh()
            h.name = "h"
    loss = (h * h).sum()
    loss.backward()
    diagram = viz.draw(loss, "backward")
    carried = edge_gradients(loss)
    uses = {t.step: [] for t in walk(loss) if t.step is not None}
    for t in walk(loss):
        for i, p in enumerate(t.parents):
            if p is W:
                uses[t.step].append(viz.layout.fmt(float(np.linalg.norm(carried[(id(t), i)]))))
    for step, shares in uses.items():
        shown = sorted(it.lines[1] for it in diagram.layout.items.values() if it.kind == "label" and it.step == step)
        assert shown == sorted(shares)
    assert any(len(set(shares)) == 2 for shares in uses.values())  # not the step's total twice


def test_the_rolled_view_pairs_a_weight_with_its_input_when_the_first_step_reads_an_initial_state():
    layout = viz.draw(readme_loop(), "rolled").layout
    labels = sorted(it.lines[0] for it in layout.items.values() if it.kind == "label")
    assert "W ×4" in labels and "W" in labels and not [k for k in layout.items if k.startswith("stub_")]


def test_numpy_numbers_are_accepted_and_bad_max_steps_named():
    roots = unrolled_example("seq2seq", 3, None)
    assert _legend(viz.draw(roots, "backward", vmin=np.float32(1e-3), vmax=np.int64(10)))[0][1] == "≥ 1"
    for bad in (2.5, "3", True):
        with pytest.raises(viz.VizError, match="max_steps"):
            viz.draw(roots, max_steps=bad)
    with pytest.raises(viz.VizError, match="vmin"):
        viz.draw(roots, "backward", vmin=True)


def test_the_cost_node_has_the_colour_of_its_gradient_one(svgs):
    diagram, svg = svgs[("encdec", "backward", "wasm")]
    scale = colours.make_scale([1.0])
    legend = dict((text, colour) for colour, text in _legend(diagram))
    assert svg.nodes["cost"].fill.lower() == legend["1 – 1e+01"].lower() != scale.colour(0.5)


def test_the_targets_appear_where_the_textbooks_draw_them():
    """cross_entropy records its labels y as an input: y -> L in the rolled view and, with the
    per-step costs kept (Goodfellow's figure), y(t) -> L(t) in every step; folded into the one
    cost node otherwise (Géron's figure)."""
    roots = unrolled_example("seq2seq", 4, None)
    rolled = viz.draw(roots, "rolled", fold_cost="steps").layout
    names = {it.id: it.lines[0] for it in rolled.items.values() if it.kind == "tensor"}
    assert any(names.get(line.ids[0]) == "y" and names.get(line.ids[-1]) == "L" for line in rolled.lines)
    steps = viz.draw(roots, "forward", fold_cost="steps").layout
    ys = [it for it in steps.items.values() if it.kind == "tensor" and it.lines[0].startswith("y(")]
    assert sorted(it.lines[0] for it in ys) == ["y(0)", "y(1)", "y(2)", "y(3)"]
    assert all(it.rect.inside(steps.frames[it.step].rect) for it in ys)
    one = viz.draw(roots, "forward").layout
    assert not [it for it in one.items.values() if it.kind == "tensor" and it.lines[0].startswith("y(")]


def test_full_style_keeps_the_parameters_of_a_readout_made_after_the_loop():
    diagram = viz.draw(readout(), "backward", style="full")
    desc = diagram.description
    V = next(n for n in desc.nodes if n.name == "V")
    (label,) = [it for it in diagram.layout.items.values() if it.kind == "label" and it.key == V.key]
    assert label.lines == ["‖∂L/∂V‖", viz.layout.fmt(desc.totals[V.key])]


def test_a_parameter_used_twice_in_a_step_labels_each_use_as_a_part():
    rng = np.random.default_rng(0)
    W = Tensor(0.5 * rng.normal(size=(3, 3)), requires_grad=True, name="W")
    h = Tensor(np.ones((1, 3)), name="h0")
    with tinygrad_rnn.step(0):
        h = ((h @ W).tanh() @ W).tanh()
    loss = h.sum()
    loss.backward()
    heads = sorted(it.lines[0] for it in viz.draw(loss, "backward").layout.items.values() if it.kind == "label")
    assert heads == ["‖∂L/∂W(0)‖ use 1/2", "‖∂L/∂W(0)‖ use 2/2"]


def test_in_style_full_each_line_bent_down_a_lane_has_a_track_of_its_own():
    """style="full" starts a step's left lane after the parameters' risers; with a two-layer
    bidirectional LSTM's 48 parameters that start lay right of the frame's middle, the lane's
    lines were counted as the right lane's and all took one track: h(0) into the second
    layer's four gates, up one x, on top of each other (58 pairs)."""
    layout = viz.draw(CASES["nn_bilstm2"](), "backward", style="full").layout
    risers = []
    for line in layout.lines:
        for p, q in zip(line.ids, line.ids[1:], strict=False):
            a, b = layout.items[p].rect, layout.items[q].rect
            if p.startswith("bend_") and p.endswith("_a") and q.endswith("_b") and abs(a.cx - b.cx) < 0.5:
                risers.append((a.cx, min(a.cy, b.cy), max(a.cy, b.cy)))
    assert len(risers) > 20
    shared = [(u, v) for i, u in enumerate(risers) for v in risers[i + 1 :]
              if abs(u[0] - v[0]) < 0.5 and min(u[2], v[2]) - max(u[1], v[1]) > 2]  # fmt: skip
    assert shared == []


def test_the_lines_into_the_cost_fan_out_at_least_3_degrees_apart():
    """Outputs far apart (a padded two-layer network's wide steps) sent their lines into the
    cost at nearly one angle: two of them 1.4 degrees apart ran, with a forward twin, on top
    of each other for 109 pt in view "both". The cost now rises until they part."""
    layout = viz.draw(CASES["padded_birnn2"](), "both").layout
    cost = layout.items["cost"].rect
    angles = sorted({round(math.atan2(cost.cy - layout.items[line.ids[-2]].rect.cy,
                                      cost.cx - layout.items[line.ids[-2]].rect.cx), 9)
                     for line in layout.lines if line.role == "cost"})  # fmt: skip
    assert len(angles) >= 4
    assert min(b - a for a, b in zip(angles, angles[1:], strict=False)) >= math.radians(3)


def test_two_bent_lines_come_into_a_node_level_at_heights_of_their_own():
    """h(1) down the lane into h(2), and h0 of a padded backward run along the gap and up the
    same lane: both came into h(2) level at its middle, one on the other for 40 pt (style="full")."""
    layout = viz.draw(CASES["padded_birnn2"](), "forward", style="full").layout
    into: dict[tuple[str, bool], list[float]] = {}
    for line in layout.lines:
        if len(line.ids) > 2 and layout.items[line.ids[-1]].kind == "tensor":
            a, b = layout.items[line.ids[-2]].rect, layout.items[line.ids[-1]].rect
            if abs(a.cy - b.cy) < 0.5:  # level into the node, from its left or its right
                into.setdefault((line.ids[-1], a.cx < b.cx), []).append(round(a.cy, 1))
    assert sum(len(ys) for ys in into.values()) > 5
    assert all(len(set(ys)) == len(ys) for ys in into.values()), into


@pytest.mark.parametrize("view", ["forward", "backward", "both"])
def test_a_gate_fed_by_two_trunks_has_each_branch_label_beside_its_own_branch(view):
    """A decoder's gates read h(t-1) and o(t-1): two trunks, their branches 8 pt apart. The
    second branch comes in on the side a line out of the gate leaves by, so the first one's
    label has the other side: no other line runs between a label and its branch (W_f(3) sat
    left of o(t-1)'s branch, 74 pt from its own, in EncoderDecoder(cell="lstm")'s backward view)."""
    from viz.layout import Rect

    layout = viz.draw(encdec("lstm"), view).layout
    assert layout.unpaired == [] and layout.conflicts == []
    branches = {tuple(line.ids): line for line in layout.lines if line.role == "data" and line.trunk is not None}
    pieces = [seg for line in layout.lines for seg in layout.segments(line)]
    checked = 0
    for label in (it for it in layout.items.values() if it.kind == "label"):
        ids = next((ids for ids in branches if label.id.endswith("_".join(ids))), None)
        if ids is None:
            continue
        own = layout.segments(branches[ids])[0]
        x, r = own[0][0], label.rect
        checked += 1
        if r.left <= x <= r.right:  # over the junction, across the branch's top
            continue
        near = r.left if r.left > x else r.right  # the label's side that faces its branch
        between = Rect((near + x) / 2, r.cy, abs(near - x) - 1, r.h)
        twin = branches[ids].twin  # view "both": the branch's forward twin beside it is its own too
        mine = [own, *(layout.segments(twin) if twin is not None else [])]
        assert not any(between.crossed_by(a, b) for a, b in pieces if (a, b) not in mine), label.lines
    assert checked >= 16


@pytest.mark.parametrize("view", ["forward", "backward"])
def test_a_decoders_go_lines_in_style_full_cross_no_parameter_box_text_or_share(view):
    """The go node sits over the parameter boxes, left of the encoder's steps: its lines went
    down through encoder.b_o's box and along the gap under the steps through the b_o shares
    written where the parameter's line rises (EncoderDecoder(cell="lstm"): 3 struck texts in
    each view). They now go round the boxes and keep off the labels, or over go's row."""
    layout = viz.draw(encdec("lstm"), view, style="full").layout
    key = next(k for k, it in layout.items.items() if it.kind == "tensor" and it.lines[:1] == ["go"])
    go = [ln for ln in layout.lines if ln.ids[0] == key or ln.ids[0].startswith((f"bend_{key}_", f"trunk_{key}_"))]
    labels = [it.rect for it in layout.items.values() if it.kind == "label"]
    assert len(go) >= 4 and not any(r.crossed_by(a, b) for ln in go for a, b in layout.segments(ln) for r in labels)
    svg = svgread.parse(viz.to_svg(viz.draw(encdec("lstm"), view, style="full").source, backend="wasm"))
    assert svgread.struck_texts(svg) == []


def test_level_runs_keep_off_the_frames_borders_and_moved_lines_off_node_text():
    """Review of the twin spacing: a decoder's go lines, spaced for their twins, ran 2 pt inside
    the encoder frames' bottom border for 5,700 pt; a line moved beside a level piece already
    drawn left its fallback route through h0's middle for h0's text (a 2-layer GRU, rolled)."""
    layout = viz.draw(CASES["encdec_gru"](), "both").layout
    items = layout.items
    for line in layout.lines:
        for p, q in zip(line.ids, line.ids[1:], strict=False):
            a, b = items[p].rect, items[q].rect
            if abs(a.cy - b.cy) < 0.5 and abs(a.cx - b.cx) > 20:
                for f in layout.frames.values():
                    if min(a.cx, b.cx) < f.rect.right and max(a.cx, b.cx) > f.rect.left:
                        assert min(abs(a.cy - f.rect.top), abs(a.cy - f.rect.bottom)) >= 3, (p, q)
    net = nn.GRU(2, 3, num_layers=2, seed=0)
    outputs, _ = net(np.random.default_rng(0).normal(size=(3, 1, 2)))
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    assert svgread.struck_texts(svgread.parse(viz.to_svg(viz.draw(loss, "rolled").source, backend="wasm"))) == []


def test_a_line_leaving_beside_a_trunk_that_goes_down_out_of_the_same_node_keeps_off_it():
    """EncoderDecoder(cell="lstm"), view both: go's trunk goes straight down out of go and under
    its row, and go's own line into a gate left go's bottom at the same x, on top of it."""
    loss = encdec("lstm")
    svg = svgread.parse(viz.to_svg(viz.draw(loss, "both").source, backend="wasm"))
    assert _lines_on_top_of_each_other(svg) == []


def test_the_cost_rises_only_where_that_parts_all_its_lines():
    """Twelve shown steps of a 20-step seq2seq: no height parts every pair of lines into the
    cost, and it stays where it was (it rose 160 pt for nothing)."""
    loss = unrolled_example("seq2seq", 20, list(range(20)))
    layout = viz.draw(loss, "forward", max_steps=12).layout
    top = min(f.rect.top for f in layout.frames.values())
    assert layout.items["cost"].rect.bottom == pytest.approx(top - viz.layout.COST_RISE)


def test_two_layers_parameters_are_numbered_alike_in_every_view():
    loss = stacked()
    full = viz.draw(loss, "backward", style="full").layout
    boxes = sorted(it.lines[0] for it in full.items.values() if it.kind == "parameter")
    assert boxes == ["U[1]", "U[2]", "W[1]", "W[2]", "b[1]", "b[2]"]
    rolled = viz.draw(loss, "rolled").layout
    loops = sorted(it.lines[0] for it in rolled.items.values() if it.kind == "label" and it.lines[0].startswith("W"))
    assert loops == ["W[1]", "W[1] ×2", "W[2]", "W[2] ×2"]
    totals = " ".join(viz.draw(loss, "backward").layout.items["totals"].lines)
    assert "‖∂L/∂W[1]‖" in totals and "‖∂L/∂W[2]‖" in totals


def test_a_loss_computed_after_the_loop_folds_into_a_cost_that_names_the_output():
    """F.mse(o(T), y) outside every step: (o - y), its square and the mean are the cost, which
    reads o(3); they used to be drawn as ops of their own under a cost called C(×)."""
    model = nn.SeqToVec(2, 3, 1, seed=0)
    loss = F.mse(model(np.random.default_rng(0).normal(size=(4, 1, 2))), np.ones((1, 1)))
    loss.backward()
    svg = viz.to_svg(viz.draw(loss, "backward").source)
    assert "C(o(3))" in svg and "C(×)" not in svg and ">−<" not in svg


# --- gated, stacked and bidirectional networks (issue 13 item 7) ----------------------------------


@pytest.mark.parametrize("view", ["forward", "backward"])
def test_each_recurrence_of_a_bidirectional_layer_runs_level_on_a_row_of_its_own(svgs, view):
    """h and h_reverse take a row each (h_reverse below: its recurrence shows at step 0), the
    same at every step, and each joins its neighbour steps with one straight level line, whose W
    label is in the step that reads it."""
    diagram, svg = svgs[("nn_birnn", view, "wasm")]
    desc = diagram.description
    rows = {}
    for name in ("h", "h_reverse"):
        keys = [n.key for n in desc.nodes if n.name == name and n.drawn and n.kind == "op"
                and any(desc.node(e.src).name == name and desc.node(e.src).place != n.place
                        for e in desc.incoming(n.key))]  # fmt: skip
        ys = {round(svg.nodes[k].centre[1], 1) for k in keys}
        assert len(ys) == 1, (name, ys)
        rows[name] = ys.pop()
        for k in keys:
            (e,) = [e for e in desc.incoming(k) if desc.node(e.src).name == name
                    and desc.node(e.src).place != desc.node(k).place]  # fmt: skip
            (line,) = [x for x in svg.lines if (x.tail, x.head) == (e.src, e.dst)]
            assert abs(line.points[0][1] - line.points[-1][1]) < 1, (name, line.points)
    assert rows["h"] < rows["h_reverse"]  # y grows downwards: the forward row is the upper
    labels = [it for it in diagram.layout.items.values() if it.kind == "label" and it.key is not None
              and desc.node(it.key).name == "W" and "reverse" not in (desc.node(it.key).name or "")]  # fmt: skip
    assert labels and diagram.layout.conflicts == [] and diagram.layout.unpaired == []


def test_an_lstm_step_draws_h_t_minus_1_into_its_gates_as_one_trunk(svgs):
    """h(t-1) reaches the four gates of step t as one line down the step's lane and a bus over
    the gates, a short branch into each, each branch with its W label; the trunk carries the sum
    of the four gradients."""
    diagram, svg = svgs[("nn_lstm", "backward", "wasm")]
    desc = diagram.description
    trunks = [line for line in diagram.layout.lines if line.role == "trunk" and line.ids[0] in desc]
    assert len(trunks) == 3  # h0 into step 0's gates, h(0) into step 1's, h(1) into step 2's
    for line in trunks:
        assert len(line.carries) == 4 and {desc.node(e.dst).name for e in line.carries} == {"i", "f", "g", "o_gate"}
        branches = [b for b in diagram.layout.lines if b.role == "data" and b.trunk == line.trunk]
        assert len(branches) == 4
        for b in branches:
            label = next(it for it in diagram.layout.items.values() if it.kind == "label"
                         and it.id.endswith("_".join(b.ids)))  # fmt: skip
            assert desc.node(label.key).name.startswith("W")
        h_prev = next(n for n in desc.nodes if n.key == line.ids[0])
        if h_prev.kind != "op":
            assert line.share is None  # h0 needs no gradient: nothing flows back along its trunk
            continue
        carried = sum(desc.carried[(e.src, e.dst, e.index)] for e in line.carries)
        assert line.share == pytest.approx(float(np.linalg.norm(carried)), rel=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru", "lstm given h0"])
def test_no_parameter_of_a_mapping_shares_its_name_with_a_tensor_it_draws(cell):
    """An LSTM's cell state was c, the name of the head's output bias: the backward view showed
    the node c(t) with ‖∂L/∂c‖ beside the bias's share ‖∂L/∂c(t)‖. It is s, as Goodfellow's;
    an initial state given as arrays is s0 too (it was c0)."""
    m = nn.SeqToSeq(2, 3, 2, cell=cell.split()[0], seed=0)
    h0 = (np.zeros((1, 3)), np.zeros((1, 3))) if "given" in cell else None
    loss = F.sequence_loss(m(np.ones((3, 1, 2)), h0), np.zeros((3, 1), dtype=int))
    loss.backward()
    nodes = viz.describe(loss).nodes
    params = {n.name for n in nodes if n.kind == "parameter"}
    tensors = {n.name for n in nodes if n.kind != "parameter"}
    assert {"V", "c"} <= params and not params & tensors and not {"c0", "c"} & tensors


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_a_bidirectional_loop_over_padded_sequences_draws(kind):
    """(It raised a ValueError in the rows of a bidirectional layer with lengths.) Every tensor
    of the forward and the backward direction is drawn once, in its own step."""
    net = getattr(nn, kind)(2, 3, bidirectional=True, seed=0)
    outputs, _ = net(np.ones((4, 2, 2)), lengths=np.array([4, 2]))
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    for view in ("forward", "backward"):
        diagram = viz.draw(loss, view)
        drawn = [it for it in diagram.layout.items.values() if it.kind == "tensor" and it.step is not None]
        assert len(drawn) == len({it.key for it in drawn}) > 0
        for it in drawn:
            assert it.rect.inside(diagram.layout.frames[it.step].rect), (view, it.lines[0])


def test_the_rolled_view_of_a_padded_batch_draws_each_part_of_a_step_once():
    """Every step of a padded batch blends, also the steps before any sequence has ended, so
    the steps record the same ops and fold into one node each: the cell's h, the carried state
    (where(running, h, h(t-1))) and the zeroed output h_out (where(running, carried, 0)).
    Before, only the steps after the first end blended: the rolled view drew h_out, the carried
    h and the layer's joined output twice (once for the steps before, once for those after),
    and their delay lines lay on top of each other."""
    from viz.graph import describe_roles

    desc = describe_roles(CASES["padded_birnn2"]())
    drawn = [n for n in desc.nodes if n.kind == "op" and n.key in desc.weights]
    params = {n.key: n.name for n in desc.nodes if n.kind == "parameter"}
    # the cell's own h is unnamed (drawn as its op): told apart by the parameters it reads
    ops = [(n.name, n.op, n.shape, *sorted(params[e.src] for e in desc.incoming(n.key) if e.src in params))
           for n in drawn]  # fmt: skip
    assert len(ops) == len(set(ops)) == 3 * 4 + 2  # h, carried h, h_out per layer and direction; 2 joins
    assert all(desc.weights[n.key] == 4 for n in drawn)  # one node stands for each of the 4 steps
    constants = {e.src for e in desc.edges if desc.node(e.src).kind == "constant"}
    # a mask stands for the masks of one where(...) only: ranked among the step's constants,
    # a layer's mask was folded with another layer's and drawn under the lower of their readers
    # two masks per layer and direction, their h_out's 0s, and the 0 that sum() starts the loss at
    assert len(constants) == 8 + 4 + 1 and all(len({e.dst for e in desc.outgoing(k)}) == 1 for k in constants)
    carried = [n.key for n in drawn if n.op == "where" and not n.name.startswith("h_out")]
    delays = {(src, dst) for src, dst, _ in desc.crossing}
    assert len(carried) == 4 and all((k, k) in delays for k in carried)  # each carried state reads its own last one


@pytest.mark.parametrize("case", sorted(CASES))
def test_in_the_rolled_view_no_other_line_turns_by_a_delay_square(svgs, case):
    """A line routed round the nodes turned 5 pt under a delay square (h0 of a padded backward
    run, into its carried state), as if it went through the delay: the squares are placed
    first, and lines keep 8 pt from them."""
    diagram, _ = svgs[(case, "rolled", "wasm")]
    layout = diagram.layout
    for square in (it for it in layout.items.values() if it.kind == "delay"):
        room = Rect(square.rect.cx, square.rect.cy, square.rect.w + 10, square.rect.h + 10)
        for line in layout.lines:
            if line.role != "recurrent":  # (two delay lines of one node may pass each other's squares)
                assert not any(room.crossed_by(a, b) for a, b in layout.segments(line)), (square.id, line.ids)


def test_a_two_layer_bidirectional_grus_rolled_view_strikes_no_text():
    """Its second layer's delay squares found no clear place near their nodes, and their lines
    crossed the first layer's (3 texts struck through): the view tries them further out and
    keeps the layout whose lines cross fewest nodes."""
    diagram = viz.draw(gated("GRU", layers=2, bidirectional=True), "rolled")
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    assert svgread.struck_texts(svg) == [] and diagram.layout.conflicts == []


def test_a_padded_lstms_rolled_loops_keep_apart_from_its_other_lines_and_delays():
    """A padded LSTM's carried h has a loop h -> h and delays into the gates: a delay placed
    before the loop's square sat on it (6 pt apart), and the loop's way back came into s at
    the angle of the line from the cell's s (4 overlapping pieces). The loops' squares are
    placed first, on the side of the node its other lines leave least."""
    rng = np.random.default_rng(0)
    model = nn.EncoderDecoder(2, 3, 2, cell="lstm", seed=0)
    outputs = model(rng.normal(size=(3, 2, 2)), targets=rng.normal(size=(2, 2, 2)), lengths=[3, 2])
    net = nn.LSTM(2, 3, seed=0)
    alone, _ = net(rng.normal(size=(4, 2, 2)), lengths=[4, 2])
    for loss in (sum((o * o).sum() for o in outputs), sum((o * o).sum() for o in alone)):
        loss.backward()
        diagram = viz.draw(loss, "rolled")
        squares = [it.rect for it in diagram.layout.items.values() if it.kind == "delay"]
        assert len(squares) >= 5
        assert not any(p.overlaps(q, 4) for i, p in enumerate(squares) for q in squares[i + 1 :])
    svg = svgread.parse(viz.to_svg(viz.draw(sum((o * o).sum() for o in outputs), "rolled").source, backend="wasm"))
    assert _lines_on_top_of_each_other(svg) == []


def test_a_padded_two_layer_bidirectional_lstm_rolls_with_every_label_placed():
    """Its rolled view once placed every label only at the seventh spacing and stopped at the
    fifth, with b_reverse's label across two lines into f_reverse."""
    layout = viz.draw(padded("LSTM"), "rolled").layout
    assert layout.conflicts == [] and layout.unpaired == []


def padded_lstm() -> Tensor:
    """nn.LSTM, one layer, over a padded batch (lengths 4 and 2)."""
    outputs, _ = nn.LSTM(2, 3, seed=0)(np.random.default_rng(0).normal(size=(4, 2, 2)), lengths=[4, 2])
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    return loss


@pytest.mark.parametrize("make", [padded_lstm, lambda: padded("LSTM"), lambda: padded("GRU")],
                         ids=["lstm", "bilstm2", "bigru2"])  # fmt: skip
def test_a_padded_networks_rolled_view_runs_no_line_on_another_or_through_a_node(make):
    """Three findings of the survey of the families no case draws: a padded LSTM's delay into a
    gate left h_reverse along its loop's way back (2 overlapping pieces; the delays keep off
    the loops' lines too, and the spacings are tried until no lines overlap); and a padded
    2-layer bi-GRU's h0 went 3,800 pt up the picture through a node at every spacing, where no
    way by its own lane was clear (now up beside the nearest node between the two rows that
    leaves it clear)."""
    diagram = viz.draw(make(), "rolled")
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    assert _lines_on_top_of_each_other(svg) == []
    assert svgread.struck_texts(svg) == []
    assert diagram.layout.conflicts == [] and diagram.layout.unpaired == []


def _overlapping(p: list[tuple[float, float]], q: list[tuple[float, float]], margin: float = 0.3) -> bool:
    """Whether two convex polygons overlap by more than ``margin`` (no separating axis)."""
    for poly in (p, q):
        for (x1, y1), (x2, y2) in zip(poly, poly[1:] + poly[:1], strict=True):
            n = math.hypot(y2 - y1, x1 - x2)
            if n == 0:
                continue
            a = [((y2 - y1) * x + (x1 - x2) * y) / n for x, y in p]
            b = [((y2 - y1) * x + (x1 - x2) * y) / n for x, y in q]
            if max(a) < min(b) + margin or max(b) < min(a) + margin:
                return False
    return True


def _arrowheads_on_top_of_each_other(svg: svgread.Svg) -> list[tuple[str, str]]:
    """The pairs of arrowheads (named by their lines) that overlap."""
    heads = [(f"{x.tail}->{x.head}", corners) for x in svg.lines for corners in x.heads]
    return [(a, b) for i, (a, p) in enumerate(heads) for b, q in heads[i + 1 :] if _overlapping(p, q)]


@pytest.mark.parametrize("view", DRAWINGS)
@pytest.mark.parametrize("case", list(CASES))
def test_no_two_arrowheads_lie_on_top_of_each_other(svgs, case, view):
    """x and h0 into an LSTM's gate came into its right side 3 pt apart, their arrowheads on top
    of each other (24 pairs over the cases' rolled views): each line now ends at a point of
    its own on that side (layout._part_ends). The lines into and out of a node are parted
    together (a bidirectional GRU's affine: the line out to the next row left from the
    arrowhead of W's branch into it), and a line ends clear of a branch's or a bent line's own
    point on the border, its arrowhead, slanted or not, clear of the branch's; two junctions of
    a shared input's bus side by side carry no arrowhead between them (a padded VecToSeq(gru)'s
    x into two rows of a step). style="full": the first node of a row in a step is tall enough
    for each parameter's riser to come in 6 pt from the next (VecToSeq's h read b, W, x and U
    2.75 pt apart: 20 pairs), an end whose slanted arrowhead lies on another's is parted from
    it although the ends are more than ARROW_ROOM apart (an LSTM gate's line beside a riser from
    under it), and lines leaving one side level leave it clear of the arrowheads already there
    (a 2-layer bi-LSTM's backward view). View "both": a forward twin goes on the other side of
    its line where its arrowhead would lie on another's (a bi-LSTM's o gate)."""
    assert _arrowheads_on_top_of_each_other(svgs[(case, view, "wasm")][1]) == []


@pytest.mark.parametrize(("steps", "lengths"), [(3, [1, 3]), (4, [2, 4]), (9, [5, 9])])
def test_an_end_near_only_a_line_out_is_not_moved_onto_another_arrowhead(steps, lengths):
    """A padded RNN's rolled view (a reviewer's finding): the delay's line into the blend was
    grouped with a line out of it, moved 8 pt from a bent line's own end with no look at the
    arrowheads, and its slanted arrowhead lay on that line's upright one. Such an end moves
    only where every arrowhead is clear."""
    outputs, _ = nn.RNN(2, 3, seed=0)(np.random.default_rng(0).normal(size=(steps, 2, 2)), lengths=lengths)
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    svg = svgread.parse(viz.to_svg(viz.draw(loss, "rolled").source, backend="wasm"))
    assert _arrowheads_on_top_of_each_other(svg) == []


@pytest.mark.parametrize("view", ["forward", "backward", "both"])
def test_a_cost_on_a_backward_directions_final_state_rises_beside_the_forward_one_over_it(view):
    """A bidirectional RNN whose loss reads its final states (h_reverse(0) and h(T-1)): the
    riser from h_reverse(0) to the cost ran straight up through h(0), over it in its step, and
    read as C -> h(0) -> h_reverse(0). It now rises beside h(0)."""
    _, h = nn.RNN(2, 3, bidirectional=True, seed=0)(np.random.default_rng(0).normal(size=(3, 3, 2)))
    loss = (h * h).sum()
    loss.backward()
    diagram = viz.draw(loss, view)
    svg = viz.to_svg(diagram.source, backend="wasm")
    assert svgread.struck_texts(svgread.parse(svg)) == []
    layout = diagram.layout
    nodes = [it for it in layout.items.values() if it.kind == "tensor"]
    for line in layout.lines:
        if line.role == "cost":
            assert not [it.id for it in nodes for a, b in layout.segments(line)
                        if it.rect.crossed_by(a, b) and it.key != layout.items[line.ids[0]].key]  # fmt: skip


def test_a_stacked_bidirectional_networks_final_states_rise_to_the_cost_apart():
    """A newcomer's finding: a 2-layer bidirectional RNN over 20 steps (elided to 12), its loss on
    the final states h. The risers from h_reverse(0) and h_l1_reverse(0) ran up through the
    states over them (16 texts struck), and the two risers of one step ran to the cost, 9,000 pt
    away, on top of each other (27 pairs of pieces). Now each rises beside what is over it, the
    two of a step end at heights of their own, and their ends on the cost keep apart."""
    _, h = nn.RNN(2, 3, num_layers=2, bidirectional=True, seed=0)(np.random.default_rng(0).normal(size=(20, 1, 2)))
    loss = (h * h).sum()
    loss.backward()
    diagram = viz.draw(loss, "forward")
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    assert svgread.struck_texts(svg) == [] and _lines_on_top_of_each_other(svg) == []
    assert diagram.layout.unpaired == [] and _arrowheads_on_top_of_each_other(svg) == []
    risers = [line for line in diagram.layout.lines if line.role == "cost"]
    assert len(risers) == 4 and len({diagram.layout.items[line.ids[-2]].rect.cy for line in risers}) == 2


@pytest.mark.parametrize("view", ["forward", "backward", "both"])
def test_two_trunks_down_out_of_one_node_keep_apart(view):
    """VecToSeq(cell="gru") over a padded batch: x(t) feeds two rows of a step's gates, and both
    trunks went straight down out of h(t-1)'s bottom at one x (3 pairs of pieces on top of each
    other). A later trunk goes down beside the earlier ones, on the side away from where it
    turns, so that it passes under their level pieces."""
    rng = np.random.default_rng(0)
    model = nn.VecToSeq(2, 3, 2, cell="gru", steps=4, seed=0)
    loss = F.sequence_loss(model(rng.normal(size=(2, 2)), lengths=[4, 2]), np.zeros((4, 2), int), lengths=[4, 2])
    loss.backward()
    svg = svgread.parse(viz.to_svg(viz.draw(loss, view).source, backend="wasm"))
    assert _lines_on_top_of_each_other(svg) == [] and svgread.struck_texts(svg) == []


def test_no_delay_line_runs_through_another_delays_square():
    """A newcomer's finding: a 2-layer bidirectional LSTM with a head at every step, rolled: a
    delay into h_l1_reverse's gates ran through the square of another delay placed on it, which
    read as a four-way junction. A square is now placed off the delays' lines drawn before."""
    rng = np.random.default_rng(0)
    lstm, head = nn.LSTM(2, 3, num_layers=2, bidirectional=True, seed=0), nn.Linear(6, 2, seed=0)
    outputs, _ = lstm(rng.normal(size=(3, 3, 2)))
    logits = []
    for t, o in enumerate(outputs):
        with tinygrad_rnn.step(t):
            logits.append(head(o))
    loss = F.sequence_loss(logits, rng.integers(0, 2, size=(3, 3)))
    loss.backward()
    layout = viz.draw(loss, "rolled").layout
    squares = [it for it in layout.items.values() if it.kind == "delay"]
    assert len(squares) >= 8
    for line in layout.lines:
        for a, b in layout.segments(line):
            assert not [sq.id for sq in squares if sq.id not in line.ids and sq.rect.crossed_by(a, b)], line.ids


def test_a_forward_twin_on_the_other_side_of_its_line_crosses_no_box_or_text():
    """View both, style="full" (a review's finding): a twin moved to the other side of its line,
    off another line, ran through encoder.b_o's box and its three shares. The side is chosen
    counting the boxes and texts crossed too."""
    diagram = viz.draw(encdec("lstm"), "both", style="full")
    layout = diagram.layout
    boxes = [it for it in layout.items.values() if it.kind in ("tensor", "parameter", "cost")]
    for line in layout.lines:
        if line.twin is not None:
            ends = {line.ids[0], line.ids[-1]}
            for a, b in layout.segments(line.twin):
                assert not [it.id for it in boxes if it.id not in ends and it.rect.crossed_by(a, b)], line.ids
    assert svgread.struck_texts(svgread.parse(viz.to_svg(diagram.source, backend="wasm"))) == []


@pytest.mark.parametrize("make", [padded_lstm, lambda: padded("LSTM")], ids=["lstm", "bilstm2"])
def test_view_both_puts_a_forward_twin_where_no_other_line_or_twin_runs(make):
    """Two lines 10 pt apart with their twins on the sides toward each other (o_gate(0) into a
    blend, s0 into another): the twins ran on top of each other. A twin that would run on a
    line or twin goes on the other side of its line."""
    svg = svgread.parse(viz.to_svg(viz.draw(make(), "both").source, backend="wasm"))
    assert _lines_on_top_of_each_other(svg) == []


def test_a_source_feeding_two_rows_of_a_step_gets_a_trunk_per_row_each_branch_ending_at_its_node():
    """A GRU's h0 feeds r and an affine on one row and z on another: two trunks (one name
    each), every branch ending on the border of the tensor it feeds."""
    model = nn.VecToSeq(2, 3, 2, steps=3, cell="gru", seed=0)
    loss = F.sequence_loss(model(np.ones((1, 2))), np.zeros((3, 1), int))
    loss.backward()
    layout = viz.draw(loss, "forward").layout
    trunks = {line.trunk for line in layout.lines if line.trunk is not None}
    starts = {line.ids[0] for line in layout.lines if line.role == "trunk" and line.ids[0] in layout.items
              and layout.items[line.ids[0]].kind == "tensor"}  # fmt: skip
    assert len(trunks) > len(starts)  # some source feeds two rows of a step
    for line in layout.lines:
        if line.role == "data" and line.trunk is not None:
            end, node = layout.items[line.ids[-1]].rect, layout.items[line.edge.dst].rect
            # on the top border, or on the bottom one where the bus runs under the row
            assert min(abs(end.cy - node.top), abs(end.cy - node.bottom)) < 0.5 and node.left <= end.cx <= node.right


def test_a_bidirectional_lstms_two_directions_are_told_apart():
    """Both directions name their gates alike (o_gate reads a W_o in each); the roles tell them
    apart by the parameters themselves, so the rolled view has a forward and a backward o-gate."""
    net = nn.LSTM(2, 3, bidirectional=True, seed=0)
    outputs, _ = net(np.random.default_rng(0).normal(size=(3, 1, 2)))
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    rolled = viz.draw(loss, "rolled").description
    gates = [n for n in rolled.nodes if n.name == "o_gate" and n.drawn]
    assert len(gates) == 2
    assert {len([e for e in rolled.incoming(g.key) if rolled.node(e.src).kind == "parameter"]) for g in gates} == {3}


def test_a_bidirectional_lstm_draws_each_direction_in_a_band_of_its_own():
    """In every step, everything the backward direction computes (its gates, f c + i g, c, tanh,
    h_reverse) lies below everything the forward direction computes: no row mixes them."""
    net = nn.LSTM(2, 3, bidirectional=True, seed=0)
    outputs, _ = net(np.random.default_rng(0).normal(size=(3, 1, 2)))
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    diagram = viz.draw(loss, "backward")
    desc, items = diagram.description, diagram.layout.items

    def band(state: str) -> set[str]:
        keys, todo = {state}, [state]
        while todo:
            for e in desc.incoming(todo.pop()):
                if desc.node(e.src).kind == "op" and desc.node(e.src).place == desc.node(state).place \
                        and e.src not in keys:  # fmt: skip
                    keys.add(e.src)
                    todo.append(e.src)
        return keys

    for step in desc.shown:
        here = [n for n in desc.nodes if n.step == step and n.drawn and n.kind == "op"]
        (h_rev,) = [n.key for n in here if n.name == "h_reverse"]
        (h_fwd,) = [n.key for n in here if n.name == "h"]
        forward, backward = band(h_fwd), band(h_rev)
        assert len(forward) == len(backward) == 9 and not forward & backward  # 4 gates, 2 products, c, tanh, h
        lowest_forward = max(items[k].rect.cy for k in forward)
        assert all(items[k].rect.cy > lowest_forward for k in backward)  # y grows downwards


@pytest.mark.parametrize("case", ["nn_bilstm", "nn_bigru"])
def test_in_style_full_the_lines_from_the_next_step_come_down_a_lane_right_of_the_nodes(case):
    """A backward direction's h_reverse(t+1) and c_reverse(t+1) come down the right lane of
    frame t, one track each: the frame is widened for them, so no track runs beside a node's
    border (they ran 5 pt from the gates, the next track inside the last gate)."""
    roots = CASES[case]()
    for view in ("forward", "backward"):
        layout = viz.draw(roots, view, style="full").layout
        seen = 0
        for step, frame in layout.frames.items():
            rightmost = max(it.rect.right for it in layout.items.values() if it.kind == "tensor" and it.step == step)
            lane = [it.rect.cx for k, it in layout.items.items() if k.startswith(("bend_", "trunk_"))
                    and it.kind == "point" and it.step == step
                    and rightmost - 1 < it.rect.cx <= frame.rect.right]  # fmt: skip
            assert all(x >= rightmost + 8 for x in lane), (view, step, rightmost, lane)
            seen += len(lane)
        assert seen, view


@pytest.mark.parametrize("case", ["nn_birnn", "nn_bilstm"])
def test_a_backward_directions_initial_state_sits_after_the_last_step_and_comes_in_from_the_right(svgs, case):
    """Read back from the SVG: the forward direction's h0 is left of the first frame, the backward
    direction's right of the last one (where that direction starts); a line bent down a lane
    into a step runs down the right half of that step's frame when it comes from a later step
    or from that h0, and down the left half when it comes from an earlier step or the first h0."""
    diagram, svg = svgs[(case, "forward", "wasm")]
    desc, frames = diagram.description, _frames(svg)
    first, last = frames[min(frames)].box, frames[max(frames)].box
    starts = [n.key for n in desc.nodes if n.kind == "initial" and n.drawn]
    left = {k for k in starts if svg.nodes[k].box[2] < first[0]}
    right = {k for k in starts if svg.nodes[k].box[0] > last[2]}
    assert left and right and len(left) + len(right) == len(starts)
    assert {desc.node(e.dst).place for k in right for e in desc.outgoing(k)} == {max(frames)}
    checked = {"left": 0, "right": 0}
    for line in diagram.layout.lines:
        if line.role not in ("data", "trunk") or line.ids[0] not in svg.nodes or not line.ids[0].startswith("n"):
            continue
        src = desc.node(line.ids[0])
        step = diagram.layout.items[line.ids[-1]].step
        if step is None or src.place == step or src.kind not in ("op", "initial"):
            continue
        later = line.ids[0] in right or (src.place is not None and src.place > step)
        points = [svg.nodes[i].centre for i in line.ids if i in svg.nodes]  # bends and nodes (anchors are ends)
        box = frames[step].box
        uprights = [a[0] for a, b in zip(points[1:], points[2:], strict=False)
                    if abs(a[0] - b[0]) < 0.5 and box[0] < a[0] < box[2]]  # fmt: skip
        middle = (box[0] + box[2]) / 2
        for x in uprights:
            assert (x > middle) == later, (case, line.ids, x, middle)
            checked["right" if later else "left"] += 1
    assert checked["left"] and checked["right"] or case == "nn_birnn"  # the RNN's recurrences come in level


def test_a_stacked_bidirectional_rnn_draws_its_layers_one_above_the_other_each_direction_in_a_band():
    """Two bidirectional layers: in every step, from the bottom, layer 0's backward then forward
    direction, the joined h(t) they make, layer 1's backward then forward direction, then layer
    1's joined output; every parameter's label nearest its line in the views drawn."""
    rng = np.random.default_rng(0)
    net = nn.RNN(2, 3, num_layers=2, bidirectional=True, seed=0)
    outputs, _ = net(rng.normal(size=(3, 1, 2)))
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    for view in ("forward", "backward"):
        diagram = viz.draw(loss, view)
        desc, items = diagram.description, diagram.layout.items
        assert diagram.layout.conflicts == [] and diagram.layout.unpaired == []
        for step in desc.shown:
            here = {n.name: items[n.key].rect.cy for n in desc.nodes if n.step == step and n.drawn and n.kind == "op"}
            order = [here["h_reverse"], here["h"], here["[h, h_reverse]"], here["h_l1_reverse"], here["h_l1"],
                     here["[h_l1, h_l1_reverse]"]]  # fmt: skip
            assert order == sorted(order, reverse=True), (view, step, order)  # y grows downwards


def test_initial_states_stay_initial_with_lengths_and_with_inputs_that_require_grad():
    """h0_reverse is read first by the last step; with lengths=[3, 4] that step's output is a
    where(...) of the cell's: the slot is still the reverse cell's, told by its parameters (a
    cell's output was once named h there, not h_reverse). Inputs x(t) that require grad are
    parameters of one step only and do not make every step's slot a different one."""
    rng = np.random.default_rng(0)
    outputs, _ = nn.RNN(2, 3, bidirectional=True, seed=0)(rng.normal(size=(4, 2, 2)), lengths=[3, 4])
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    found = {n.name: (n.kind, n.place) for n in viz.describe(loss).nodes if (n.name or "").startswith("h0")}
    assert found == {"h0": ("initial", None), "h0_reverse": ("initial", None)}  # each direction's, named so
    xs = [Tensor(rng.normal(size=(1, 2)), requires_grad=True, name="x") for _ in range(3)]
    outputs, _ = nn.LSTM(2, 3, seed=0)(xs)
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    found = {n.name: (n.kind, n.place) for n in viz.describe(loss).nodes if n.name in ("h0", "s0")}
    assert found == {"h0": ("initial", None), "s0": ("initial", None)}


def test_inputs_computed_before_the_loop_still_draw_the_two_directions_in_bands():
    """x(t) = raw(t) E made before the loop is an op outside the steps that both directions read;
    it is no recurrence of theirs, so h and h_reverse still take rows of their own."""
    rng = np.random.default_rng(0)
    E = Tensor(rng.normal(size=(2, 2)), requires_grad=True, name="E")
    xs = [Tensor(rng.normal(size=(1, 2))) @ E for _ in range(3)]
    outputs, _ = nn.RNN(2, 3, bidirectional=True, seed=0)(xs)
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    diagram = viz.draw(loss, "forward")
    items = diagram.layout.items
    for step in diagram.description.shown:
        ys = {n.name: items[n.key].rect.cy for n in diagram.description.nodes
              if n.step == step and n.kind == "op" and n.name in ("h", "h_reverse")}  # fmt: skip
        assert ys["h_reverse"] > ys["h"], (step, ys)  # y grows downwards: the backward direction lowest
    assert diagram.layout.conflicts == []


def test_a_gru_decoders_first_input_comes_up_the_lane_and_in_level_into_its_gates():
    """Read back from the SVG: EncoderDecoder(gru)'s first decoder input ("go", left of the
    encoder's steps) feeds the first decoder step's z, r and candidate affine, on three rows.
    Each line goes along the gap under go's row, up a track of that step's lane and in level into the
    gate's left side, as h(t-1) comes in, and its U label sits beside that level piece (they
    ran under the gates' row, their labels crowded there)."""
    net = nn.EncoderDecoder(2, 3, 2, cell="gru", seed=0)
    outputs = net(np.random.default_rng(0).normal(size=(3, 2, 2)), steps=2)
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    diagram = viz.draw(loss, "backward")
    desc = diagram.description
    (go,) = [n.key for n in desc.nodes if n.kind == "initial" and n.name == "go"]
    lines = [line for line in diagram.layout.lines if line.role == "data" and line.edge is not None
             and line.edge.src == go and desc.node(line.edge.dst).op in ("affine", "sigmoid(affine)")]  # fmt: skip
    assert len(lines) == 3  # z, r and the candidate's affine
    for backend in BACKENDS:
        svg = svgread.parse(viz.to_svg(diagram.source, backend=backend))
        frame = _frames(svg)[desc.node(lines[0].edge.dst).place].box
        texts = {t.text: t.centre for t in svg.texts()}
        names = viz.layout.param_names(desc)
        for line in lines:
            dst = svg.nodes[line.edge.dst]
            points = [svg.nodes[i].centre for i in line.ids if i in svg.nodes]
            (x0, y0), (x1, y1), (x2, y2) = points[-3:]
            assert line.ids[-1] == line.edge.dst and abs(y1 - y2) < 0.5, (backend, line.ids)  # in level
            assert abs(x0 - x1) < 0.5 and y0 > y1, (backend, line.ids)  # up the lane
            assert frame[0] < x1 < dst.box[0], (backend, line.ids)  # the lane: inside the frame, left of the gate
            (U,) = [e.src for e in desc.incoming(line.edge.dst) if e.index == line.edge.index + 1]  # x U: U after x
            label = texts[f"‖∂L/∂{names[U]}({desc.node(line.edge.dst).step})‖"]
            assert x1 - 5 <= label[0] <= dst.box[0] and abs(label[1] - y1) < 25, (backend, line.ids, label)


def test_an_lstm_decoders_first_input_reaches_its_gates_by_one_trunk_under_the_encoder():
    """Read back from the SVG: EncoderDecoder(lstm)'s first decoder input ("go", left of the
    encoder's steps) feeds the first decoder step's f, i and g on one row by one trunk, which
    leaves go downwards, runs under go's row past the encoder's tensors, and goes up that
    step's lane (it was three lines under the gates, their labels squeezed: 2 conflicts)."""
    net = nn.EncoderDecoder(2, 3, 2, cell="lstm", seed=0)
    outputs = net(np.random.default_rng(0).normal(size=(3, 2, 2)), steps=2)
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    diagram = viz.draw(loss, "backward")
    desc, items = diagram.description, diagram.layout.items
    (go,) = [n.key for n in desc.nodes if n.kind == "initial" and n.name == "go"]
    (trunk,) = [line for line in diagram.layout.lines if line.role == "trunk" and line.ids[-1].endswith("_b")
                and line.carries and line.carries[0].src == go]  # fmt: skip
    assert len({e.dst for e in trunk.carries}) == 3 and diagram.layout.conflicts == []
    step = desc.node(trunk.carries[0].dst).place
    for backend in BACKENDS:
        svg = svgread.parse(viz.to_svg(diagram.source, backend=backend))
        source, frame = svg.nodes[go].box, _frames(svg)[step].box
        under, lane, bus = (svg.nodes[i].centre for i in trunk.ids[-3:])
        assert source[0] < under[0] < source[2] and under[1] > source[3], backend  # down out of go
        assert abs(under[1] - lane[1]) < 0.5 and abs(lane[0] - bus[0]) < 0.5 and bus[1] < lane[1], backend
        firsts = min(svg.nodes[k].box[0] for k in items if items[k].kind == "tensor" and items[k].step == step)
        assert frame[0] < lane[0] < firsts, backend  # the step's lane
        tensors = [svg.nodes[k].box for k in items if items[k].kind == "tensor" and k in svg.nodes]
        assert not any(b[1] < under[1] < b[3] and b[0] < lane[0] and under[0] < b[2] for b in tensors), backend


def test_a_peephole_lstm_is_one_recurrence_and_draws_in_no_bands(monkeypatch):
    """f = sigmoid(z W_f + c(t-1) p_f) meets what reads h(t-1) and what reads c(t-1), but goes on
    into c(t): one recurrence, drawn exactly as with no band logic at all."""
    rng = np.random.default_rng(0)
    W = {k: Tensor(0.4 * rng.normal(size=(5, 3)), requires_grad=True, name=k) for k in ("W_f", "W_i", "W_o", "W")}
    p_f = Tensor(0.4 * rng.normal(size=(1, 3)), requires_grad=True, name="p_f")
    h, c = Tensor(np.zeros((1, 3)), name="h0"), Tensor(np.zeros((1, 3)), name="c0")
    for t in range(3):
        with tinygrad_rnn.step(t):
            z = Tensor.concat([Tensor(rng.normal(size=(1, 2)), name="x"), h], axis=1)
            f = (z @ W["W_f"] + c * p_f).sigmoid()
            c = f * c + (z @ W["W_i"]).sigmoid() * (z @ W["W"]).tanh()
            c.name = "c"
            h = (z @ W["W_o"]).sigmoid() * c.tanh()
            h.name = "h"
    loss = (h * h).sum()
    loss.backward()
    drawn = viz.draw(loss, "forward").source
    monkeypatch.setattr(viz.layout, "_bands", lambda *args: None)
    assert viz.draw(loss, "forward").source == drawn


@pytest.mark.parametrize("kind", ["RNN", "LSTM"])
def test_with_lengths_each_layer_and_direction_keeps_its_band_after_a_sequence_ends(kind):
    """lengths=[2, 4]: from step 2 on, each direction's state is where(running, new, old) and its
    output where(running, new, 0), so the joined h(t) reads no state directly. The four
    recurrences still draw in four bands (layer 0 backward, forward, then layer 1's), in every
    step: the ops computed from one direction's parameters alone lie in rows of their own."""
    rng = np.random.default_rng(0)
    net = getattr(nn, kind)(2, 3, num_layers=2, bidirectional=True, seed=0)
    outputs, _ = net(rng.normal(size=(4, 2, 2)), lengths=[2, 4])
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    params = dict(net.named_parameters())
    directions = ["cell_reverse.", "", "cell_l1_reverse.", "cell_l1."]  # from the bottom up
    for view in ("forward", "backward"):
        diagram = viz.draw(loss, view)
        desc, items = diagram.description, diagram.layout.items
        keys = {}
        for prefix in directions:
            own = [t for name, t in params.items() if name.startswith(prefix) and (prefix or "." not in name)]
            keys[prefix] = set(viz.graph.keys_of(loss, own))
        for step in desc.shown:
            spans = []
            for i, prefix in enumerate(directions):
                below = keys[""] | keys["cell_reverse."] if i > 1 else set()  # layer 1 reads layer 0's
                ys = [items[n.key].rect.cy for n in desc.nodes if n.step == step and n.drawn and n.kind == "op"
                      and n.role.reach & keys[prefix] and not n.role.reach - keys[prefix] - below]  # fmt: skip
                assert ys, (view, step, prefix)
                spans.append((min(ys), max(ys)))
            for (low_top, _), (_, high_bottom) in zip(spans, spans[1:], strict=False):
                assert high_bottom <= low_top, (view, step, spans)  # y grows downwards; a row may hold two
        if kind == "LSTM":
            assert diagram.layout.conflicts == [], view


def test_the_forward_view_draws_after_an_optimizer_step_and_the_backward_view_says_why_it_cannot():
    """The forward view shows no gradients: after an optimizer step changed the parameters, the
    last pass's gradients cannot be computed again, which only the views that show them refuse."""
    from tinygrad_rnn import BackwardError, optim

    model = nn.SeqToSeq(1, 3, 1, cell="lstm", seed=0)
    xs = np.random.default_rng(0).normal(size=(3, 2, 1))
    loss = F.sequence_loss(model(xs), xs, loss=F.mse)
    loss.backward()
    before = viz.draw(loss, "forward").source
    optim.SGD(model.parameters(), lr=0.1).step()
    after = viz.draw(loss, "forward")
    assert "h(2)" in after.source and after.source != before  # the nodes, sized without gradient text
    assert "the parameters were changed in place since this pass" in after.source  # the caption says so
    assert "changed in place" not in before
    for view in ("backward", "both"):
        with pytest.raises(BackwardError, match="changed in place since"):
            viz.draw(loss, view)



def test_an_mse_per_step_cost_reads_the_outputs_not_the_loss_functions_own_ops():
    """sequence_loss(..., loss=F.mse): the ops mse makes from o(t) and y(t) alone ((o - y)^2) are
    the term's (functional.TERM_OPS) and fold into the cost, which names the outputs it reads,
    as with cross_entropy's one node. What the model computed stays drawn, named or not (a
    by-hand h(t)), and so does anything a custom loss computes from a parameter."""
    import gc

    xs = np.random.default_rng(0).normal(size=(4, 2, 1))
    model = nn.SeqToSeq(1, 3, 1, seed=0)

    def reads(loss: Tensor) -> list[str]:
        loss.backward()
        desc = viz.describe(loss)
        names = {n.key: f"{n.name or n.op}({n.step})" for n in desc.nodes}
        return [names[k] for k in desc.cost_reads]

    loss = F.sequence_loss(model(xs), xs, loss=F.mse)
    assert reads(loss) == ["o(0)", "o(1)", "o(2)", "o(3)"]
    svg = svgread.parse(viz.to_svg(viz.draw(loss, "backward").source, backend="wasm"))  # what a reader sees
    texts = [t.text for t in svg.texts()]
    (cost,) = [t for t in svg.texts() if t.text.startswith("C(")]
    assert cost.text == "C(o(0), o(1), o(2), o(3))" and not [t for t in texts if t.startswith(("×", "−"))]
    outputs = [t for t in svg.texts() if re.fullmatch(r"o\(\d\)", t.text)]
    assert len(outputs) == 4 and all(cost.y < t.y for t in outputs)  # the cost above the outputs it reads
    assert any("the cost reads o(0), o(1), o(2), o(3)" in t for t in texts)
    assert not [n for n in viz.describe(loss).nodes if n.drawn and n.kind == "op" and n.op in ("sub", "mul", "mean")]
    assert reads(F.sequence_loss(model(xs), xs, loss=F.mse, steps=[-1])) == ["o(3)"]
    W, h, hs = model.W, Tensor(np.zeros((2, 3))), []
    for t in range(4):  # the README's loop by hand: its h(t) are unnamed ops
        with tinygrad_rnn.step(t):
            h = (h @ W + Tensor(xs[t]) @ model.U).tanh()
        hs.append(h)
    assert reads(F.sequence_loss(hs, np.zeros((4, 2, 3)), loss=F.mse)) == [f"tanh({t})" for t in range(4)]
    V = Tensor(np.random.default_rng(2).normal(size=(3, 1)), requires_grad=True, name="V")
    late = [x @ V for x in hs]  # a readout made after the loop: the model's, though untagged and unnamed
    assert reads(F.sequence_loss(late, xs, loss=F.mse)) == ["matmul(None)"] * 4
    outs, p_of = model(xs), {}
    for t, x in enumerate(outs):
        with tinygrad_rnn.step(t):
            p_of[id(x)] = x.tanh()
            p_of[id(x)].name = "p"  # the model's, computed from the output: not the loss function's
    assert reads(F.sequence_loss(outs, xs, loss=lambda o, y: F.mse(p_of[id(o)], y))) == [f"mul({t})" for t in range(4)]
    target = Tensor(xs, requires_grad=True)
    sliced = F.sequence_loss(model(xs), target, loss=F.mse)
    assert reads(sliced) == [f"{name}({t})" for t in range(4) for name in ("o", "target")]  # sliced in step t
    base = F.sequence_loss(model(xs), xs, loss=F.mse)
    base.name = "loss"  # a named total, and a penalty after it: the terms still fold
    assert reads(base + 0.1 * (W * W).sum()) == ["mul(None)"] + [f"o({t})" for t in range(4)]
    decay = F.sequence_loss(model(xs), xs, loss=lambda o, y: F.mse(o, y) + (W * W).sum())
    decay.backward()
    assert {("mul", t) for t in range(4)} <= {(n.op, n.step) for n in viz.describe(decay).nodes if n.kind == "op"}
    del loss, decay, hs, h, late, sliced
    gc.collect()
    alive = len(F.TERM_OPS)
    F.sequence_loss(model(xs), xs, loss=F.mse)  # dropped at once: its marks go with it
    gc.collect()
    assert len(F.TERM_OPS) == alive


def _birnn2_loss(steps: int, lengths: list[int] | None = None) -> Tensor:
    """A 2-layer bidirectional RNN's loss over its final states and its last two outputs (a
    padded batch of two with ``lengths``), after backward()."""
    m = nn.RNN(2, 3, num_layers=2, bidirectional=True, seed=0)
    batch = len(lengths) if lengths else 1
    outs, h = m(np.random.default_rng(0).normal(size=(steps, batch, 2)), **({"lengths": lengths} if lengths else {}))
    loss = (h * h).sum() + sum((o * o).sum() for o in outs[-2:])
    loss.backward()
    return loss


@pytest.mark.parametrize(("steps", "max_steps"), [(3, None), (9, 4)])
def test_labels_of_lines_from_the_next_step_find_room_in_a_wider_right_lane(steps, max_steps):
    """A 2-layer bidirectional RNN whose loss reads its final states and its last two outputs,
    view "both": W_l1_reverse(0)'s share had no free place (drawn across the gap between the
    first two frames, struck by a bent line) and three texts were struck, at every spacing
    tried. Where widening the rows and the left lanes places not every label, the layout is
    tried again with the right lanes (for the labels of lines from the next step) widened too."""
    diagram = viz.draw(_birnn2_loss(steps), "both", **({"max_steps": max_steps} if max_steps else {}))
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    assert diagram.layout.conflicts == [] and svgread.struck_texts(svg) == []
    assert not any("W_l1_reverse" in label for label in diagram.layout.unpaired)


@pytest.mark.parametrize(
    ("lengths", "view"),
    [([9, 4], "both"), ([9, 4], "forward:full"), ([9, 4], "backward:full"), (None, "forward"), (None, "backward")],
)
def test_a_riser_into_the_cost_beside_a_tensor_keeps_off_the_lane_tracks(lengths, view):
    """A padded 2-layer bidirectional RNN (9 steps, 4 drawn): the riser from h_l1_reverse(0) into
    the cost goes up beside the tensors over it, and ran 1 pt from a lane track there (two or
    three pieces on top of each other). It now keeps a track's pitch from the upright lines
    already there, and from the risers beside tensors placed before it (without lengths, the
    risers from h_reverse(5) and h_l1_reverse(5) went up at one x). View "both": the twins of the
    lines into the cost, planned before any is placed, keep off one another's lines."""
    kind, _, style = view.partition(":")
    diagram = viz.draw(_birnn2_loss(9, lengths), kind, max_steps=4, **({"style": style} if style else {}))
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    assert _lines_on_top_of_each_other(svg) == []


@pytest.mark.parametrize("view", ["backward", "both", "backward:full"])
def test_the_lines_out_of_an_elision_mark_part_their_arrowheads_and_a_level_one_stays_level(view):
    """A padded 2-layer bidirectional RNN (9 steps, 4 drawn): h(t) of the last elided step is
    read by two tensors of the next drawn step, and both lines left the "⋯" mark at one point,
    their backward arrowheads on top of each other. The ends on a mark are parted like those
    on a node (a mark has no rounded corners to keep off), and a line that comes straight in
    keeps its end where it can (moved, it would slant)."""
    kind, _, style = view.partition(":")
    diagram = viz.draw(_birnn2_loss(9, [9, 4]), kind, max_steps=4, **({"style": style} if style else {}))
    svg = svgread.parse(viz.to_svg(diagram.source, backend="wasm"))
    assert _arrowheads_on_top_of_each_other(svg) == []
    items = diagram.layout.items
    level = [line for line in diagram.layout.lines if items[line.ids[0]].kind == "elision" and len(line.ids) == 2
             and abs(items[line.ids[-1]].rect.cy - items[line.ids[0]].rect.cy) < 0.5]  # fmt: skip
    assert level, "a line out of a mark into a tensor of its row"
    for line in level:
        start, end = (items[p].rect for p in line.points())
        assert abs(start.cy - end.cy) < 0.5, line.ids


@pytest.mark.parametrize(("steps", "max_steps"), [(3, None), (9, 4)])
def test_a_wide_label_beside_an_upright_line_reads_as_that_line_s(steps, max_steps):
    """A 2-layer bidirectional RNN whose loss reads its final states and last two outputs,
    backward view: ‖∂L/∂U_l1_reverse(0)‖ (97 pt wide) sat 4 pt left of its upright line, 33 pt
    from any other, yet counted as unpaired: its centre, 52 pt from its line, was nearer the end
    of b's stub. Where no place has the label's centre nearest its line, a place whose edge is
    within 6 pt of its line and BESIDE_CLEAR nearer it than any other line is taken."""
    diagram = viz.draw(_birnn2_loss(steps), "backward", **({"max_steps": max_steps} if max_steps else {}))
    assert diagram.layout.conflicts == [] and diagram.layout.unpaired == []
    label = next(it for it in diagram.layout.items.values() if it.kind == "label" and "U_l1_reverse(0)" in it.lines[0])
    assert label.rect.w > 90  # wide: its centre far from the line it sits beside


def test_a_riser_into_the_cost_moved_off_a_lane_track_goes_round_no_tensor():
    """A 3-layer LSTM whose loss reads its final states, view "both": the riser from h_l1(2) into
    the cost goes up beside the tensors over it. Moved further out, off an upright line there,
    it ran up through a × of the layer above (its twin through the node's text). It moves out
    only where its way stays clear of every tensor."""
    m = nn.LSTM(2, 3, num_layers=3, seed=1)
    outs, (h, _) = m(np.random.default_rng(1).normal(size=(3, 1, 2)))
    loss = (h * h).sum() + (outs[-1] * outs[-1]).sum()
    loss.backward()
    diagram = viz.draw(loss, "both")
    layout = diagram.layout
    tensors = [it for it in layout.items.values() if it.kind in ("tensor", "cost")]
    through = [(line.ids[0], line.ids[-1], it.id) for line in layout.lines for a, b in layout.segments(line)
               for it in tensors if it.id not in (line.ids[0], line.ids[-1]) and it.rect.crossed_by(a, b)]  # fmt: skip
    assert through == []
    assert svgread.struck_texts(svgread.parse(viz.to_svg(diagram.source, backend="wasm"))) == []


def test_three_lines_out_of_an_elision_mark_part_their_arrowheads_beyond_its_text():
    """A padded 2-layer bidirectional GRU (5 steps, 4 drawn), backward view in style="full":
    three lines leave one "⋯" mark (24 pt tall): a bent line at a point of its own and two
    more, their ends 8 pt apart but a slanted one's arrowhead on the bent line's. A mark, a
    text without a border, lends its ends room beyond it."""
    m = nn.GRU(2, 3, num_layers=2, bidirectional=True, seed=1)
    outs, h = m(np.random.default_rng(1).normal(size=(5, 2, 2)), lengths=[5, 3])
    loss = (h * h).sum() + (outs[-1] * outs[-1]).sum()
    loss.backward()
    diagram = viz.draw(loss, "backward", max_steps=4, style="full")
    marks = {it.id for it in diagram.layout.items.values() if it.kind == "elision"}
    assert max(sum(line.ids[0] == k for line in diagram.layout.lines) for k in marks) >= 3
    assert _arrowheads_on_top_of_each_other(svgread.parse(viz.to_svg(diagram.source, backend="wasm"))) == []
