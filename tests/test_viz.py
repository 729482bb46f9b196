"""viz: the structure of the DOT it writes, determinism, shared layout, both renderers, errors,
elision of long unrolls, per-step gradient contributions, the rolled view, the animation, the
gradient-norm plot and the textbook figures.

The DOT is read back with a small parser below (our own output only: statements, subgraphs,
quoted strings); the SVG with ``xml.etree``. Renders are shared through module-scoped
fixtures: the first in-process (WebAssembly) render of a process takes about two seconds.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinygrad_rnn
import viz
from tinygrad_rnn import Tensor, nn
from tinygrad_rnn import functional as F
from tinygrad_rnn.autograd import edge_gradients, walk
from tinygrad_rnn.cli import unrolled_example

DRAW = importlib.import_module("viz.draw")  # the module (``viz.draw`` is the function)

ROOT = Path(__file__).resolve().parent.parent
PARAMS = ("U", "W", "b", "V", "c")
SVG_NS = "{http://www.w3.org/2000/svg}"
NO_GRAD = "#e6e6e6"


# --- reading our DOT back ---------------------------------------------------------------------

_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|->|[{}\[\];=,]|[^\s{}\[\];=,"]+')


@dataclass
class Dot:
    nodes: dict[str, dict[str, str]] = field(default_factory=dict)
    cluster_of: dict[str, str | None] = field(default_factory=dict)
    clusters: dict[str, dict[str, str]] = field(default_factory=dict)
    edges: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def label(self, key: str) -> str:
        return self.nodes[key].get("label", "")

    def out(self, key: str) -> list[tuple[str, str, dict[str, str]]]:
        return [e for e in self.edges if e[0] == key]

    def visible_edges(self) -> list[tuple[str, str, dict[str, str]]]:
        return [e for e in self.edges if e[2].get("style") != "invis"]


def _unquote(tok: str) -> str:
    return tok[1:-1].replace('\\"', '"') if tok.startswith('"') else tok


def parse_dot(source: str) -> Dot:
    """Nodes with their attributes and cluster, clusters with theirs, edges in order."""
    toks, dot, pos = _TOKEN.findall(source), Dot(), 0

    def attrs() -> dict[str, str]:
        nonlocal pos
        out = {}
        pos += 1  # [
        while toks[pos] != "]":
            if toks[pos] in (",", ";"):
                pos += 1
                continue
            out[_unquote(toks[pos])] = _unquote(toks[pos + 2])
            pos += 3
        pos += 1
        return out

    def block(cluster: str | None) -> None:
        nonlocal pos
        while toks[pos] != "}":
            tok = toks[pos]
            if tok == ";":
                pos += 1
            elif tok == "{":  # an anonymous subgraph
                pos += 1
                block(cluster)
            elif tok == "subgraph":
                name = None if toks[pos + 1] == "{" else _unquote(toks[pos + 1])
                pos += 2 if name is None else 3
                inner = name if name and name.startswith("cluster") else cluster
                if inner != cluster:
                    dot.clusters[inner] = {}
                block(inner)
            elif tok in ("graph", "node", "edge") and toks[pos + 1] == "[":
                pos += 1
                got = attrs()
                if tok == "graph" and cluster:
                    dot.clusters[cluster].update(got)
            elif toks[pos + 1] == "=":  # key=value of the enclosing (sub)graph
                if cluster:
                    dot.clusters[cluster][_unquote(tok)] = _unquote(toks[pos + 2])
                pos += 3
            elif toks[pos + 1] == "->":
                tail, head = _unquote(tok), _unquote(toks[pos + 2])
                pos += 3
                dot.edges.append((tail, head, attrs() if toks[pos] == "[" else {}))
            else:
                key = _unquote(tok)
                pos += 1
                dot.nodes.setdefault(key, {}).update(attrs() if toks[pos] == "[" else {})
                dot.cluster_of.setdefault(key, cluster)
        pos += 1

    while toks[pos] != "{":
        pos += 1
    pos += 1
    block(None)
    return dot


# --- graphs ------------------------------------------------------------------------------------


def seq2seq(steps: int, cost_steps: list[int] | None, hidden: int = 3, seed: int = 0) -> tuple[list[Tensor], nn.Module]:
    """Geron's setting: a seq2seq RNN, cross-entropy on the outputs ``cost_steps``."""
    rng = np.random.default_rng(seed)
    model = nn.SeqToSeq(input_size=2, hidden_size=hidden, output_size=3, seed=seed)
    outputs = model(rng.normal(size=(steps, 1, 2)))
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(steps, 1)), steps=cost_steps)
    model.zero_grad()
    loss.backward()
    return [loss, *outputs], model


@pytest.fixture(scope="module")
def geron():
    """Five steps, the cost on outputs 2, 3, 4: roots, model, and the three views' DOT."""
    roots, model = seq2seq(5, [2, 3, 4])
    sources = {view: viz.draw(roots, view).source for view in viz.VIEWS}
    return roots, model, sources


@pytest.fixture(scope="module")
def geron_svg(geron):
    """The forward and backward views rendered in-process (WebAssembly), parsed."""
    _, _, sources = geron
    return {view: ET.fromstring(viz.to_svg(sources[view], backend="wasm")) for view in ("forward", "backward")}


def _named(dot: Dot, name: str) -> list[str]:
    """Nodes whose label starts with ``name`` as a word (``h``, ``h = ...``)."""
    return [k for k in dot.nodes if re.match(rf"{re.escape(name)}(\s|=|$)", dot.label(k))]


def _step_clusters(dot: Dot) -> dict[int, str]:
    return {int(c[len("cluster_t") :]): c for c in dot.clusters if re.fullmatch(r"cluster_t\d+", c)}


# --- forward view structure --------------------------------------------------------------------


def test_one_cluster_per_time_step_labelled_t_equals_k(geron):
    dot = parse_dot(geron[2]["forward"])
    clusters = _step_clusters(dot)
    assert sorted(clusters) == [0, 1, 2, 3, 4]
    assert len(_named(dot, "o")) == len(_named(dot, "x")) == len(_named(dot, "h")) == 5
    for k, name in clusters.items():
        assert dot.clusters[name]["label"] == f"t = {k}"
        for role in ("x", "h", "o"):  # one of each per step, inside that step's cluster
            assert sum(dot.cluster_of[n] == name for n in _named(dot, role)) == 1


def test_time_runs_left_to_right_in_both_renderers(geron_svg):
    for svg in geron_svg.values():
        xs = {}
        for g in svg.iter(f"{SVG_NS}g"):
            title = g.find(f"{SVG_NS}title")
            if g.get("class") == "cluster" and title is not None and title.text.startswith("cluster_t"):
                xs[int(title.text[len("cluster_t") :])] = min(_numbers(g))
        assert sorted(xs, key=xs.get) == [0, 1, 2, 3, 4]


def _reached_steps(dot: Dot, key: str) -> set[int]:
    """The steps a node's edges reach, following a shared tensor's line through its junctions."""
    clusters = {c: k for k, c in _step_clusters(dot).items()}
    steps, stack, seen = set(), [key], set()
    while stack:
        node = stack.pop()
        for _, head, _attrs in dot.out(node):
            if dot.nodes.get(head, {}).get("shape") == "point":
                if head not in seen:
                    seen.add(head)
                    stack.append(head)
            elif dot.cluster_of.get(head) in clusters:
                steps.add(clusters[dot.cluster_of[head]])
    return steps


def test_each_parameter_is_drawn_once_outside_the_steps_with_an_edge_into_every_step(geron):
    roots, model, sources = geron
    desc = viz.describe(roots)
    for view in ("forward", "backward"):
        dot = parse_dot(sources[view])
        for name in PARAMS:
            (key,) = _named(dot, name)
            assert dot.cluster_of[key] is None
            param = next(n for n in desc.nodes if n.name == name)
            used = {desc.node(e.dst).step for e in desc.edges if e.src == param.key}
            assert _reached_steps(dot, key) == used == {0, 1, 2, 3, 4}


def test_forward_edges_are_dashed_and_point_the_way_data_flows(geron):
    dot = parse_dot(geron[2]["forward"])
    edges = dot.visible_edges()
    assert edges and all(a.get("style") == "dashed" for _, _, a in edges)
    assert all(a.get("dir", "forward") == "forward" for _, _, a in edges)


def test_backward_edges_are_solid_and_their_arrows_follow_the_gradient(geron):
    dot = parse_dot(geron[2]["backward"])
    edges = dot.visible_edges()
    # every edge is declared input -> output, as in the forward view (same layout); dir=back puts
    # the arrowhead at the input: the gradient flows from the output back into it
    assert edges and all(a.get("dir") == "back" for _, _, a in edges)
    carrying = [a for _, _, a in edges if a.get("style") == "solid"]
    assert len(carrying) > len(edges) / 2
    assert all(a.get("style") in ("solid", "dotted") for _, _, a in edges)
    assert all(a.get("arrowtail") == "none" for _, _, a in edges if a.get("style") == "dotted")


def test_outputs_outside_the_cost_are_greyed_with_dotted_edges_and_no_gradient_styling(geron):
    dot = parse_dot(geron[2]["backward"])
    outputs = sorted(_named(dot, "o"), key=lambda k: int(dot.cluster_of[k][len("cluster_t") :]))
    for step, key in enumerate(outputs):
        attrs = dot.nodes[key]
        into = [a for _, head, a in dot.edges if head == key]
        if step in (0, 1):
            assert attrs["fillcolor"] == NO_GRAD and attrs["fontcolor"] == "#999999"
            assert "‖∇‖ = –" in attrs["label"]
            assert into and all(a["style"] == "dotted" and a["color"] == "#cccccc" for a in into)
            assert all("label" not in a and "penwidth" not in a for a in into)
        else:
            assert attrs["fillcolor"] != NO_GRAD and re.search(r"‖∇‖ = \d\.\d\de[+-]\d\d", attrs["label"])
            assert all(a["style"] == "solid" for a in into)


def test_backward_view_before_backward_raises():
    model = nn.SeqToSeq(2, 3, 3, seed=0)
    outputs = model(np.ones((3, 1, 2)))
    loss = F.sequence_loss(outputs, np.zeros((3, 1), dtype=np.int64))
    with pytest.raises(viz.VizError, match=r"backward\(\) first"):
        viz.draw(loss, "backward")
    viz.draw(loss, "forward")  # fine before backward


def test_unknown_view_and_unknown_extension_raise(geron, tmp_path):
    roots = geron[0]
    with pytest.raises(viz.VizError, match="forward, backward, rolled"):
        viz.draw(roots, "sideways")
    with pytest.raises(viz.VizError, match=r"\.svg"):
        viz.render(viz.draw(roots), tmp_path / "diagram.jpeg")
    with pytest.raises(viz.VizError, match="backend"):
        viz.render(viz.draw(roots), tmp_path / "diagram.svg", backend="cairo")


def test_a_graph_without_time_steps_is_drawn_left_to_right_without_clusters(tmp_path):
    W = Tensor(np.arange(6.0).reshape(3, 2) / 10, requires_grad=True, name="W")
    y = (Tensor(np.ones((1, 3)), name="x") @ W).tanh().sum()
    y.backward()
    for view in viz.VIEWS:
        dot = parse_dot(viz.draw(y, view).source)
        assert not _step_clusters(dot) and len(_named(dot, "W")) == 1
        path = viz.render(viz.draw(y, view), tmp_path / f"{view}.svg", backend="wasm")
        assert ET.parse(path).getroot().tag == f"{SVG_NS}svg"


# --- determinism and shared layout -------------------------------------------------------------


def test_the_same_program_gives_byte_identical_dot(geron):
    roots, _, sources = geron
    again, _ = seq2seq(5, [2, 3, 4])
    for view in viz.VIEWS:
        assert viz.draw(roots, view).source == sources[view] == viz.draw(again, view).source


_PROGRAM = """
import viz
from tinygrad_rnn.cli import unrolled_example
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


def _numbers(element: ET.Element) -> list[float]:
    """The x coordinates in an element's first shape (polygon points, path, ellipse)."""
    for shape in element:
        tag = shape.tag.replace(SVG_NS, "")
        if tag == "polygon":
            return [float(p.split(",")[0]) for p in shape.get("points").split()]
        if tag == "path":
            return [float(v.split(",")[0]) for v in re.findall(r"-?\d+\.?\d*,-?\d+\.?\d*", shape.get("d"))]
        if tag == "ellipse":
            return [float(shape.get("cx"))]
    return []


def _positions(svg: ET.Element) -> dict[str, tuple[float, ...]]:
    """Each node's shape coordinates, keyed by its <title>, relative to the first node."""
    out = {}
    for g in svg.iter(f"{SVG_NS}g"):
        if g.get("class") != "node":
            continue
        title = g.find(f"{SVG_NS}title").text
        for shape in g:
            tag = shape.tag.replace(SVG_NS, "")
            if tag in ("polygon", "path"):
                geometry = shape.get("points") or shape.get("d")
                out[title] = tuple(float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", geometry))
                break
            if tag == "ellipse":
                out[title] = (float(shape.get("cx")), float(shape.get("cy")))
                break
    first = next(iter(out.values()))
    return {k: tuple(round(v - first[i % 2], 1) for i, v in enumerate(vals)) for k, vals in out.items()}


def test_forward_and_backward_views_put_every_node_in_the_same_place(geron_svg):
    forward, backward = _positions(geron_svg["forward"]), _positions(geron_svg["backward"])
    # the colour key is drawn in the backward view only (invisible, but laid out, in the forward one)
    assert set(backward) - set(forward) == {f"legend{i}" for i in range(7)} and len(forward) > 30
    moved = {k for k in forward if forward[k] != backward[k]}
    assert not moved


# --- rendering ---------------------------------------------------------------------------------


def test_in_process_renderer_writes_valid_svg(geron, geron_svg, tmp_path):
    assert all(svg.tag == f"{SVG_NS}svg" for svg in geron_svg.values())
    path = viz.render(viz.draw(geron[0], "rolled"), tmp_path / "rolled.svg", backend="wasm")
    assert ET.parse(path).getroot().tag == f"{SVG_NS}svg"
    dot_text = viz.render(viz.draw(geron[0]), tmp_path / "forward.dot")
    assert dot_text.read_text() == geron[2]["forward"]


@pytest.mark.skipif(not viz.has_dot(), reason="the Graphviz dot program is not installed")
def test_dot_program_writes_valid_svg_png_and_pdf(geron, tmp_path):
    diagram = viz.draw(geron[0], "backward")
    assert ET.parse(viz.render(diagram, tmp_path / "b.svg", backend="dot")).getroot().tag == f"{SVG_NS}svg"
    assert viz.render(diagram, tmp_path / "b.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert viz.render(diagram, tmp_path / "b.pdf").read_bytes()[:5] == b"%PDF-"


@pytest.fixture
def no_dot(monkeypatch):
    """As if Graphviz were not installed: ``dot`` is not on PATH."""
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    assert not viz.has_dot()


@pytest.mark.parametrize("ext", ["png", "pdf"])
def test_png_and_pdf_without_dot_raise_and_name_the_fix(geron, tmp_path, no_dot, ext):
    with pytest.raises(viz.VizError, match="install Graphviz") as info:
        viz.render(viz.draw(geron[0]), tmp_path / f"diagram.{ext}")
    assert "apt install graphviz" in str(info.value) and ".svg" in str(info.value)
    assert not (tmp_path / f"diagram.{ext}").exists()
    with pytest.raises(viz.VizError, match="not on PATH"):
        viz.render(viz.draw(geron[0]), tmp_path / "diagram.svg", backend="dot")


def test_a_diagram_shows_itself_as_svg_in_a_notebook_without_dot(geron, no_dot):
    bundle = viz.draw(geron[0], "backward")._repr_mimebundle_()
    assert list(bundle) == ["image/svg+xml"]
    assert ET.fromstring(bundle["image/svg+xml"]).tag == f"{SVG_NS}svg"


# --- long unrolls ------------------------------------------------------------------------------


def test_too_large_a_graph_raises_and_suggests_max_steps(geron):
    with pytest.raises(viz.VizError, match="max_steps=") as info:
        viz.draw(geron[0], max_nodes=10)
    assert "max_nodes" in str(info.value)


def test_max_steps_shows_the_first_and_last_steps_and_one_elision_node():
    roots, _ = seq2seq(20, [19])
    dot = parse_dot(viz.draw(roots, "backward", max_steps=6).source)
    assert sorted(_step_clusters(dot)) == [0, 1, 2, 17, 18, 19]
    elided = [k for k in dot.nodes if "steps …" in dot.label(k)]
    assert [dot.label(k) for k in elided] == ["… 14 steps …"]
    into, out = [a for _, h, a in dot.edges if h == elided[0]], [a for t, _, a in dot.edges if t == elided[0]]
    assert into and out and all(a["style"] == "dotted" and a["dir"] == "back" for a in into + out if "dir" in a)
    assert all(a.get("dir") == "back" for _, _, a in dot.visible_edges())
    with pytest.raises(viz.VizError, match="at least 2"):
        viz.draw(roots, max_steps=1)
    assert len(_step_clusters(parse_dot(viz.draw(roots, max_steps=None).source))) == 20


def test_a_thousand_step_unroll_draws_and_renders_in_a_few_seconds(tmp_path):
    rng = np.random.default_rng(0)
    model = nn.SeqToVec(input_size=1, hidden_size=2, output_size=2, seed=0)
    loss = F.cross_entropy(model(rng.normal(size=(1000, 1, 1))), np.array([1]))
    loss.backward()
    start = time.perf_counter()
    diagram = viz.draw(loss)
    drawn = time.perf_counter()
    path = viz.render(diagram, tmp_path / "long.svg", backend="wasm")
    done = time.perf_counter()
    print(f"\n1,000 steps: draw {drawn - start:.2f} s, render (wasm) {done - drawn:.2f} s")
    dot = parse_dot(diagram.source)
    assert len(_step_clusters(dot)) == 12 and any("988 steps" in dot.label(k) for k in dot.nodes)
    assert ET.parse(path).getroot().tag == f"{SVG_NS}svg"


# --- per-step contributions --------------------------------------------------------------------


@given(
    steps=st.integers(1, 6),
    data=st.data(),
    seed=st.integers(0, 2**16),
)
def test_per_step_contributions_add_up_to_each_parameters_grad(steps, data, seed):
    cost = data.draw(st.sets(st.integers(0, steps - 1), min_size=1).map(sorted), label="cost steps")
    roots, model = seq2seq(steps, cost, hidden=2, seed=seed)
    loss = roots[0]
    carried = edge_gradients(loss)
    desc = viz.describe(roots)
    dot = parse_dot(viz.draw(roots, "backward").source)
    for name, param in zip(PARAMS, (model.U, model.W, model.b, model.V, model.c), strict=True):
        per_step: dict[int, np.ndarray] = {}
        for t in walk(loss):
            for i, p in enumerate(t.parents):
                if p is param and (id(t), i) in carried:
                    per_step[t.step] = per_step.get(t.step, 0) + carried[(id(t), i)]
        total = sum(per_step.values())
        np.testing.assert_allclose(total, param.grad, rtol=0, atol=1e-12)
        key = next(n.key for n in desc.nodes if n.name == name)
        assert desc.totals[key] == pytest.approx(np.linalg.norm(param.grad), rel=1e-12)
        (drawn,) = _named(dot, name)
        assert f"‖∂L/∂{name}‖ = {np.linalg.norm(param.grad):.2e}" in dot.label(drawn)
        for t, g in per_step.items():  # the junction of step t shows that step's share
            assert desc.contributions[(key, t)] == pytest.approx(np.linalg.norm(g), rel=1e-12, abs=1e-300)
            assert dot.nodes[f"{key}_t{t}"]["xlabel"] == f"‖∂L/∂{name}({t})‖ = {np.linalg.norm(g):.2e}"


# --- rolled view -------------------------------------------------------------------------------


def test_rolled_view_has_one_node_per_role_delays_on_recurrent_edges_and_counts(geron):
    dot = parse_dot(geron[2]["rolled"])
    assert not dot.clusters
    for name in ("h", "o", "x", *PARAMS):
        assert len(_named(dot, name)) == 1, name
    (h,) = _named(dot, "h")
    (o,) = _named(dot, "o")
    (loss_node,) = _named(dot, "L")
    assert dot.label(h).endswith("×5") and dot.label(o).endswith("×5") and dot.label(loss_node).endswith("×3")
    delays = [k for k, a in dot.nodes.items() if a.get("shape") == "square" and a.get("fillcolor") == "black"]
    loop = [d for d in delays if any(t == h for t, head, _ in dot.edges if head == d)]
    assert len(loop) == 1  # h(t-1) -> h(t) passes through one delay, 4 times in 5 steps
    (into_delay,) = [a for t, head, a in dot.edges if head == loop[0]]
    assert into_delay["label"] == "×4"
    assert [head for t, head, _ in dot.edges if t == loop[0]] == [h]


# --- animation ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def animation(geron, tmp_path_factory):
    path = viz.animate(geron[0], tmp_path_factory.mktemp("anim") / "bptt.html")
    return path, path.read_text(encoding="utf-8")


def _frames(page: str) -> list[dict]:
    blob = re.search(r'<script type="application/json" id="bptt-data">(.*?)</script>', page, re.DOTALL)
    return json.loads(blob.group(1))["frames"]


def test_animation_holds_the_svg_and_the_nodes_in_the_order_backward_visits_them(geron, animation):
    roots = geron[0]
    _, page = animation
    assert page.startswith("<!DOCTYPE html>") and "<svg" in page and "<?xml" not in page
    frames = _frames(page)
    keys = [f["key"] for f in frames]
    desc = viz.describe(roots)
    position = {n.key: i for i, n in enumerate(desc.nodes)}
    assert keys == sorted(keys, key=position.get, reverse=True)  # reverse topological order
    visited = [t for t in reversed(walk(roots[0])) if t.grad is not None]  # what backward() walks
    assert len(keys) == len(visited) and keys[0] == desc.roots[0]
    assert [f["grad_norm"] for f in frames] == pytest.approx([float(np.linalg.norm(t.grad)) for t in visited])
    assert [f["step"] for f in frames] == [t.step for t in visited]
    titles = set(re.findall(r"<title>(n\d+)</title>", page))
    assert set(keys) <= titles  # every visited node is drawn (5 steps: nothing elided)


def test_animation_is_self_contained(animation):
    _, page = animation
    assert not re.search(r'(src|href)\s*=\s*["\']?(https?:)?//', page)
    assert "<link" not in page and "@import" not in page
    for word in ("Prev", "Next", "Play", 'type="range"'):
        assert word in page


_DOM_STUB = """
const page = require("fs").readFileSync(process.argv[2], "utf8");
const script = page.match(/<script>([\\s\\S]*?)<\\/script>/)[1];
const data = page.match(/id="bptt-data">([\\s\\S]*?)<\\/script>/)[1];
function element(title) {
  const classes = new Set();
  return { textContent: "", value: "0", max: "0", onclick: null, oninput: null,
    classList: { toggle: (c, on) => (on ? classes.add(c) : classes.delete(c)), has: (c) => classes.has(c) },
    querySelector: () => (title === null ? null : { textContent: title }) };
}
const nodes = [...page.matchAll(/<g id="node\\d+" class="node">\\s*<title>([^<]*)<\\/title>/g)]
  .map((m) => element(m[1]));
const edges = [...page.matchAll(/<g id="edge\\d+" class="edge">\\s*<title>([^<]*)<\\/title>/g)]
  .map((m) => element(m[1].replace("&#45;&gt;", "->")));
const ids = {};
global.document = {
  getElementById: (id) => (id === "bptt-data" ? { textContent: data } : (ids[id] = ids[id] || element(null))),
  querySelectorAll: (sel) => (sel.includes("node") ? nodes : edges),
};
global.setInterval = () => 1; global.clearInterval = () => {};
eval(script);
ids.next.onclick(); ids.next.onclick(); ids.prev.onclick(); ids.play.onclick(); ids.play.onclick();
ids.slider.value = "3"; ids.slider.oninput();
const current = nodes.filter((n) => n.classList.has("current")).length;
console.log(JSON.stringify({ counter: ids.counter.textContent, info: ids.info.textContent, current }));
"""


@pytest.mark.skipif(shutil.which("node") is None, reason="node (to run the page's script) is not installed")
def test_animation_script_runs_without_errors(animation, tmp_path):
    path, page = animation
    stub = tmp_path / "run.js"
    stub.write_text(_DOM_STUB)
    done = subprocess.run(["node", str(stub), str(path)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    state = json.loads(done.stdout)
    assert state["counter"] == f"4 / {len(_frames(page))}" and state["current"] == 1
    assert "‖∂L/∂" in state["info"] and "step:" in state["info"]


# --- gradient-norm plot ------------------------------------------------------------------------


def test_gradient_norm_plot_matches_the_hidden_states_grads(tmp_path):
    rng = np.random.default_rng(1)
    rnn = nn.RNN(input_size=2, hidden_size=4, seed=1)
    hs, h_T = rnn(rng.normal(size=(12, 1, 2)))
    loss = (h_T * h_T).sum() + hs[3].sum()
    loss.backward()
    expected = [np.linalg.norm(h.grad) for h in hs]
    steps, norms = viz.plot_gradient_norms(loss, tmp_path / "g.svg")
    assert steps.tolist() == list(range(12))
    np.testing.assert_allclose(norms, expected, rtol=1e-12)
    steps2, norms2 = viz.plot_gradient_norms(hs, tmp_path / "g2.svg")
    assert steps2.tolist() == steps.tolist() and np.array_equal(norms2, norms)
    svg = ET.parse(tmp_path / "g.svg").getroot()
    (line,) = svg.iter(f"{SVG_NS}polyline")
    assert len(line.get("points").split()) == 12
    texts = " ".join(t.text or "" for t in svg.iter(f"{SVG_NS}text"))
    assert "time step t" in texts and "‖∂L/∂h(t)‖" in texts
    decades = math.floor(math.log10(norms.min())), math.ceil(math.log10(norms.max()))
    labels = [int(s.text) for s in svg.iter(f"{SVG_NS}tspan")]
    assert labels[0] == decades[0] and labels[-1] == decades[1]


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
    with pytest.raises(viz.VizError, match="no tensor named 'z'"):
        viz.plot_gradient_norms(total, tmp_path / "p.svg", name="z")
    with pytest.raises(viz.VizError, match=r"\.svg"):
        viz.plot_gradient_norms(total, tmp_path / "p.png")


# --- the textbook figures ----------------------------------------------------------------------


def test_textbook_figures_are_regenerated(tmp_path, capsys):
    spec = importlib.util.spec_from_file_location("textbook_figures", ROOT / "examples" / "textbook_figures.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    start = time.perf_counter()
    paths = module.main(["--out", str(tmp_path)])
    assert time.perf_counter() - start < 20
    names = sorted(p.name for p in paths)
    assert names == sorted(
        [
            "goodfellow_10_3_rolled.svg",
            "goodfellow_10_3_unrolled.svg",
            "geron_bptt_forward.svg",
            "geron_bptt_backward.svg",
            "bptt.html",
            "grad_norms.svg",
        ]
    )
    for p in paths:
        if p.suffix == ".svg":
            assert ET.parse(p).getroot().tag == f"{SVG_NS}svg"
    backward = (tmp_path / "geron_bptt_backward.svg").read_text()
    assert backward.count("Y = ") == 5 and str(tmp_path) in capsys.readouterr().out


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


# --- graphs built by hand, odd steps, bad gradients ------------------------------------------------


def test_unnamed_constants_and_parameters_get_a_first_line_and_render(tmp_path):
    W = Tensor(np.random.default_rng(0).normal(size=(4, 4)), requires_grad=True)  # no name
    y = (Tensor(np.ones((2, 4))) @ W).tanh().sum()  # an unnamed constant of 8 values
    y.backward()
    for view in ("forward", "backward"):
        dot = parse_dot(viz.draw(y, view).source)
        assert all(dot.label(k).split("\n")[0] for k in dot.nodes if "label" in dot.nodes[k])
        assert "None" not in viz.draw(y, view).source
    assert "‖∂L/∂param‖" in viz.draw(y, "backward").source
    for i in range(4):  # the in-process renderer used to fail on some of these, depending on the last render
        assert ET.parse(viz.render(y, tmp_path / f"y{i}.svg", backend="wasm")).getroot().tag == f"{SVG_NS}svg"


def test_inf_and_nan_gradients_are_drawn_in_their_own_colour(tmp_path):
    W = Tensor(np.array([[1.0, 0.0], [0.0, 1.0]]), requires_grad=True, name="W")
    h = Tensor(np.array([[0.0, 1.0]])) @ W  # h[0, 0] = 0
    with np.errstate(divide="ignore", invalid="ignore"):
        loss = h.log().sum()  # d log(0) = inf, and inf * 0 = nan in W's gradient
        loss.backward()
    assert not np.isfinite(W.grad).all()
    dot = parse_dot(viz.draw(loss, "backward").source)
    (w,) = _named(dot, "W")
    assert "inf" in dot.label(w) or "nan" in dot.label(w)
    assert dot.nodes[w]["fillcolor"] == DRAW._NON_FINITE
    assert any(dot.label(k) == "inf or NaN" for k in dot.nodes)
    viz.render(loss, tmp_path / "nan.svg", view="backward", backend="wasm")


def test_norms_of_huge_gradients_do_not_overflow():
    W = Tensor(np.full((2, 2), 1e200), requires_grad=True, name="W")
    loss = (Tensor(np.full((1, 2), 1e100)) @ W).sum()  # 2e300, finite
    loss.backward()  # W.grad = 1e100 everywhere: squaring it would overflow
    (node,) = [n for n in viz.describe(loss).nodes if n.name == "W"]
    assert node.norm == pytest.approx(2e200, rel=1e-12) and node.grad_norm == pytest.approx(2e100, rel=1e-12)


def test_elision_sits_where_the_drawn_steps_skip_recorded_ones_even_with_gapped_step_numbers():
    W = Tensor(np.eye(2) * 0.5, requires_grad=True, name="W")
    h = Tensor(np.ones((1, 2)), name="h0")
    for t in range(0, 20, 2):  # steps 0, 2, ..., 18
        with tinygrad_rnn.step(t):
            h = (h @ W).tanh()
            h.name = "h"
    dot = parse_dot(viz.draw(h.sum(), max_steps=4).source)
    assert sorted(_step_clusters(dot)) == [0, 2, 16, 18]
    assert any(dot.label(k) == "… 6 steps …" for k in dot.nodes)
    into = [a for a, b, attrs in dot.edges if b == DRAW.ELISION and attrs.get("style") == "invis"]
    out_of = [b for a, b, attrs in dot.edges if a == DRAW.ELISION and attrs.get("style") == "invis"]
    assert [dot.cluster_of[k] for k in into] == ["cluster_t2"]
    assert [dot.cluster_of[k] for k in out_of] == ["cluster_t16"]


def test_rolled_view_keeps_two_parameters_that_share_a_name_apart():
    first, second = nn.RNN(3, 4, seed=0), nn.RNN(4, 4, seed=1)  # both name their weights U, W, b
    hs, _ = second(first(np.ones((3, 2, 3)))[0])
    dot = parse_dot(viz.draw(hs[-1].sum(), "rolled").source)
    labels = sorted(dot.label(k) for k in _named(dot, "U"))
    assert len(labels) == 2 and "(3, 4)" in labels[0] and "(4, 4)" in labels[1]


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
    roots, model = seq2seq(3, None, seed=4)
    loss = roots[0]
    assert "earlier passes" not in viz.draw(roots, "backward").source
    loss.backward()  # no zero_grad: every .grad now holds two passes, the per-step shares one
    assert {n.name for n in viz.describe(roots).nodes if n.key in viz.describe(roots).accumulated} == set(PARAMS)
    dot = parse_dot(viz.draw(roots, "backward").source)
    (w,) = _named(dot, "W")
    assert dot.label(w).endswith("(with earlier passes)")
