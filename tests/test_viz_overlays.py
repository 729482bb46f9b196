"""The backward diagram's overlays: each share's split by loss term (``split=``), the Jacobians
through time (``jacobians=``), and clipping said where it fired. The numbers are checked
against ``analysis`` (ledger, jacobian_norms) and the marks read back from the SVG; the
placement of every label (inside its frame, clear of lines and other text, nearest its own
line) is checked for these overlays by the general tests of test_viz.py ("split" and "dying"
cases)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import svgread
from test_viz import dying

import tinygrad_rnn
import viz
from tinygrad_rnn import Tensor, analysis, nn, optim
from tinygrad_rnn import functional as F
from tinygrad_rnn.app.cli import unrolled_example
from viz.layout import DIES, fmt


def _seq2seq(steps: int, seed: int = 0, scale: float = 1.0, batch: int = 2):
    model = nn.SeqToSeq(3, 4, 3, seed=seed, dtype=np.float64)
    model.W.data *= scale
    rng = np.random.default_rng(seed)
    outputs = model(rng.normal(size=(steps, batch, 3)))
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(steps, batch)))
    loss.backward()
    return model, loss, outputs


def _labels(diagram, key: str) -> dict[int, list[list[str]]]:
    """Per step, the text lines of each label of parameter ``key``."""
    out: dict[int, list[list[str]]] = {}
    for it in diagram.layout.items.values():
        if it.kind == "label" and it.key == key:
            out.setdefault(it.step, []).append(it.lines)
    return out


def _parts(lines: list[str]) -> dict[str, str]:
    return dict(m.groups() for m in (re.fullmatch(r"(L\(\d+\)|rest): (.+)", x) for x in lines) if m)


@pytest.mark.parametrize("steps", [3, 4])
def test_each_share_is_split_by_loss_term_as_the_ledger_says(steps):
    """Under ‖∂L/∂W(t)‖, each loss term's part L(k): ‖∂L(k)/∂W(t)‖ is the ledger's entry, for
    every parameter and step (at most four terms: all of them here), and no later term."""
    model, loss, _ = _seq2seq(steps)
    diagram = viz.draw(loss, "backward", split=True)
    svg = svgread.parse(viz.to_svg(diagram.source))
    seen = 0
    for name in ("U", "W", "b", "V", "c"):
        param = getattr(model, name)
        book = analysis.ledger(loss, param)
        norms = book.norms()
        key = next(n.key for n in diagram.description.nodes if n.name == name)
        for step, labels in _labels(diagram, key).items():
            (lines,) = labels
            k = book.steps.index(step)
            want = {f"L({s})": fmt(norms[i, k]) for i, s in enumerate(book.loss_steps)
                    if book.reached[i, k] and norms[i, k] != 0}  # fmt: skip
            assert _parts(lines) == want, (name, step, lines)
            assert all(int(t[2:-1]) >= step for t in want)  # only this and later steps' losses reach it
            label_id = next(i for i, it in diagram.layout.items.items() if it.lines == lines)
            assert [t.text for t in svg.nodes[label_id].texts] == lines  # as drawn
            seen += 1
    assert seen == 5 * steps  # W(0) too: its share is 0 (h0 is zeros), so no term is listed
    assert "each loss term L(k)" in diagram.layout.items["caption"].lines[1]


def test_a_long_split_lists_the_largest_terms_and_counts_the_rest():
    model, loss, _ = _seq2seq(8, seed=3)
    diagram = viz.draw(loss, "backward", split=[model.W], max_steps=None)
    book = analysis.ledger(loss, model.W)
    norms = book.norms()
    key = next(n.key for n in diagram.description.nodes if n.name == "W")
    (lines,) = _labels(diagram, key)[1]
    k = book.steps.index(1)
    terms = {f"L({s})": norms[i, k] for i, s in enumerate(book.loss_steps) if book.reached[i, k]}
    assert len(terms) == 7
    largest = sorted(terms, key=lambda t: -terms[t])[:3]
    assert _parts(lines) == {t: fmt(terms[t]) for t in largest}
    assert lines[-1] == "+ 4 smaller"
    # only W is split
    other = next(n.key for n in diagram.description.nodes if n.name == "U")
    assert all(len(lines) == 2 for labels in _labels(diagram, other).values() for lines in labels)


def test_per_use_parts_add_up_to_the_gradient_and_to_the_ledger():
    model, loss, _ = _seq2seq(4, seed=5)
    params = list(model.parameters())
    found = analysis.per_use(loss, params)
    loss_steps, uses = found.loss_steps, found.uses
    for p in params:
        total = sum(g for u in uses if u.param is p for g in u.parts.values())
        np.testing.assert_allclose(total, p.grad, rtol=1e-12, atol=1e-14)
        book = analysis.ledger(loss, p)
        for k, s in enumerate(book.steps):
            for i in range(len(book.loss_steps)):
                got = sum((u.parts[i] for u in uses if u.param is p and u.op.step == s and i in u.parts), start=0.0)
                np.testing.assert_allclose(got, book.terms[i, k], rtol=1e-12, atol=1e-14)
    assert loss_steps == [0, 1, 2, 3]


def test_a_step_using_a_parameter_twice_splits_each_use():
    W = Tensor(np.array([[0.5, -0.2], [0.1, 0.3]]), requires_grad=True, name="W")
    h = Tensor(np.array([[1.0, 2.0]]), name="h0")
    losses = []
    import tinygrad_rnn as tr

    for t in range(3):
        with tr.step(t):
            h = ((h @ W).tanh() @ W).tanh()
            h.name = "h"
            loss_t = (h * h).sum()
            loss_t.name = "L"
            losses.append(loss_t)
    total = losses[0] + losses[1] + losses[2]
    total.backward()
    plain = viz.draw(total, "backward")
    diagram = viz.draw(total, "backward", split=True)
    key = next(n.key for n in diagram.description.nodes if n.name == "W")
    for step, labels in _labels(diagram, key).items():
        assert len(labels) == 2  # one label per use, each with its own split
        assert all(lines[0].endswith(("use 1/2", "use 2/2")) for lines in labels)
        for lines in labels:
            assert set(_parts(lines)) <= {f"L({s})" for s in range(step, 3)}
    # this hand-made graph's long recurrent line leaves a label no free place even unsplit
    assert len(diagram.layout.conflicts) <= len(plain.layout.conflicts)


def test_the_jacobian_overlay_writes_the_norms_of_analysis_under_each_state():
    model, loss, outputs = _seq2seq(5, seed=2, batch=1)
    states = analysis.hidden_states(loss)
    j = analysis.jacobian_norms(states)
    diagram = viz.draw(loss, "backward", jacobians=True)
    svg = svgread.parse(viz.to_svg(diagram.source))
    desc = diagram.description
    for t, h in enumerate(states):
        key = next(n.key for n in desc.nodes if n.name == "h" and n.step == h.step)
        texts = [x.text for x in svg.nodes[key].texts]
        if t:
            assert f"‖∂h({t})/∂h({t - 1})‖ = {fmt(j.one_step[t - 1])}" in texts
        if t < len(states) - 1:
            assert f"‖∂h(4)/∂h({t})‖ = {fmt(j.to_last[t])}" in texts
        assert not svg.nodes[key].dashed  # a random 4-unit RNN over 5 steps keeps its gradient
    # the same numbers for the states given by hand
    same = viz.draw(loss, "backward", jacobians=states)
    assert same.source == diagram.source


def test_states_the_gradient_from_the_last_one_no_longer_reaches_are_outlined_in_blue():
    roots = dying()
    states = analysis.hidden_states(roots[0])
    j = analysis.jacobian_norms(states)
    diagram = viz.draw(roots, "backward", jacobians=True, max_steps=8)
    svg = svgread.parse(viz.to_svg(diagram.source))
    desc = diagram.description
    died, kept = 0, 0
    for t, h in enumerate(states):
        node = next((n for n in desc.nodes if n.name == "h" and n.step == h.step and n.drawn), None)
        if node is None:
            continue
        shape = svg.nodes[node.key]
        assert shape.dashed == (j.to_last[t] < DIES), (t, j.to_last[t])
        assert (shape.stroke == "#08519c") == (j.to_last[t] < DIES)
        died += j.to_last[t] < DIES
        kept += j.to_last[t] >= DIES
    assert died >= 3 and kept >= 3  # both kinds are in the picture
    assert "has died" in " ".join(diagram.layout.items["caption"].lines)


def _totals(diagram) -> str:
    return " ".join(diagram.layout.items["totals"].lines)


@pytest.mark.parametrize("max_steps", [None, 4])
def test_clipping_after_backward_is_said_where_it_fired(max_steps):
    model, loss, _ = _seq2seq(6, seed=4)
    plain = _totals(viz.draw(loss, "backward", max_steps=max_steps))
    assert "clipped" not in plain and "earlier passes" not in plain
    before = np.sqrt(sum(float(np.sum(p.grad**2)) for p in model.parameters()))
    optim.clip_grad_norm(model.parameters(), before / 4)
    diagram = viz.draw(loss, "backward", max_steps=max_steps)
    assert diagram.description.clipped.keys() == {n.key for n in diagram.description.nodes if n.kind == "parameter"}
    factor = (before / 4) / (before + 1e-6)
    assert f"Σ over t (scaled ×{factor:.2g} after backward, as clip_grad_norm does):" in _totals(diagram)
    assert "clipped after this pass" in " ".join(diagram.layout.items["caption"].lines)
    # the total is .grad (clipped); the steps' shares are the pass's gradient before clipping
    W = next(n.key for n in diagram.description.nodes if n.name == "W")
    assert diagram.description.totals[W] == pytest.approx(np.linalg.norm(model.W.grad), rel=1e-12)
    book = analysis.ledger(loss, model.W)
    for step, (lines,) in _labels(diagram, W).items():
        assert lines[1] == fmt(np.linalg.norm(book.terms[:, book.steps.index(step)].sum(axis=0)))


def test_clip_grad_value_is_told_per_parameter():
    model, loss, _ = _seq2seq(4, seed=6)
    grads = {name: getattr(model, name).grad.copy() for name in ("U", "W", "b", "V", "c")}
    c = float(np.abs(grads["V"]).max()) * 0.5
    optim.clip_grad_value(model.V, c)
    diagram = viz.draw(loss, "backward")
    V = next(n.key for n in diagram.description.nodes if n.name == "V")
    over = int((np.abs(grads["V"]) > c).sum())
    assert diagram.description.clipped == {V: f"cut to ±{c:.2g} at {over} of {grads['V'].size} entries after "
                                              "backward, as clip_grad_value does"}  # fmt: skip
    assert f"‖∂L/∂V‖ = {fmt(np.linalg.norm(model.V.grad))} (cut to ±" in _totals(diagram)


def test_a_second_backward_pass_is_still_told_apart_from_clipping():
    model, loss, _ = _seq2seq(3, seed=7)
    loss2 = F.sequence_loss(model(np.ones((3, 2, 3))), np.zeros((3, 2), dtype=int))
    loss2.backward()  # .grad = first pass + second pass
    diagram = viz.draw(loss2, "backward")
    assert not diagram.description.clipped
    assert _totals(diagram).count("(with earlier passes, or changed after backward)") == 5


def test_overlays_refuse_what_they_cannot_draw():
    roots = unrolled_example("seq2seq", 3, None)
    with pytest.raises(viz.VizError, match="split= annotates the backward pass"):
        viz.draw(roots, "forward", split=True)
    with pytest.raises(viz.VizError, match="jacobians= annotates the backward pass"):
        viz.draw(roots, "rolled", jacobians=True)
    with pytest.raises(viz.VizError, match="style='textbook'"):
        viz.draw(roots, "backward", style="full", split=True)
    stray = Tensor(np.ones((1, 3)), requires_grad=True, name="stray")
    with pytest.raises(viz.VizError, match="split=.*not used by any op"):
        viz.draw(roots, "backward", split=[stray])
    with pytest.raises(viz.VizError, match=r"states\[0\].*not a tensor of the graph"):
        viz.draw(roots, "backward", jacobians=[stray, roots[1]])
    with pytest.raises(viz.VizError, match="split= takes True or a list of Tensors"):
        viz.draw(roots, "backward", split="W")
    x = Tensor(np.ones(3), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()


def test_the_overlays_leave_the_plain_diagram_as_it_was():
    roots = unrolled_example("seq2seq", 4, [1, 2, 3])
    plain = viz.draw(roots, "backward").source
    viz.draw(roots, "backward", split=True, jacobians=True)
    assert viz.draw(roots, "backward").source == plain


# --- found in review --------------------------------------------------------------------------


def test_a_chain_of_states_ending_in_a_step_not_drawn_names_its_last_state():
    _, loss, _ = _seq2seq(30, batch=1)
    states = analysis.hidden_states(loss)
    diagram = viz.draw(loss, "backward", jacobians=states[:15], max_steps=4)
    j = analysis.jacobian_norms(states[:15])
    lines = next(it.lines for it in diagram.layout.items.values() if it.key is not None and it.kind == "tensor"
                 and diagram.description.node(it.key).name == "h" and it.step == 1)  # fmt: skip
    assert f"‖∂h(14)/∂h(1)‖ = {fmt(j.to_last[1])}" in lines
    assert "‖∂h(14)/∂h(t)‖" in " ".join(diagram.layout.items["caption"].lines)


def test_a_factor_just_under_one_is_not_written_as_one():
    model, loss, _ = _seq2seq(3, seed=8)
    total = np.sqrt(sum(float(np.sum(p.grad**2)) for p in model.parameters()))
    optim.clip_grad_norm(model.parameters(), total * 0.9995)
    totals = _totals(viz.draw(loss, "backward"))
    assert "scaled ×0.999 after backward" in totals and "×1 " not in totals


def test_a_loss_of_one_term_is_not_split_and_the_caption_says_why():
    model = nn.SeqToSeq(3, 4, 3, seed=0, dtype=np.float64)
    outputs = model(np.random.default_rng(0).normal(size=(3, 1, 3)))
    loss = F.cross_entropy(outputs[0], np.array([1])) + F.cross_entropy(outputs[2], np.array([0]))
    loss.backward()
    diagram = viz.draw(loss, "backward", split=True)
    assert not diagram.description.splits
    assert all(len(it.lines) == 2 for it in diagram.layout.items.values() if it.kind == "label")
    assert "the loss is one term, nothing to split" in " ".join(diagram.layout.items["caption"].lines)


def test_terms_named_L_without_steps_are_L_L2_L3_not_rest():
    import tinygrad_rnn as tr

    W = Tensor(np.array([[0.5, -0.2], [0.1, 0.3]]), requires_grad=True, name="W")
    h, terms = Tensor(np.array([[1.0, 2.0]])), []
    for _ in range(3):
        h = (h @ W).tanh()
        term = (h * h).sum()
        term.name = "L"
        terms.append(term)
    loss = terms[0] + terms[1] + terms[2]
    found = analysis.per_use(loss, [W])
    assert found.names() == ["L", "L#2", "L#3"] and not found.rest
    with tr.step(0):
        penalty = (W * W).sum()
    assert analysis.per_use(loss + penalty, [W]).names()[-1] == "rest"


def test_overlay_errors_say_what_to_pass_to_draw():
    x = Tensor(np.ones(3), requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(viz.VizError, match=r"jacobians=\[h\(0\), \.\.\., h\(T\)\]") as err:
        viz.draw(loss, "backward", jacobians=True)
    assert "name=" not in str(err.value)
    hs = []  # states named h that do not follow from one another: not one chain
    for t in range(3):
        with tinygrad_rnn.step(t):
            h = (x * float(t + 1)).tanh()
            h.name = "h"
            hs.append(h)
    loss = sum((h * h).sum() for h in hs)
    loss.backward()
    with pytest.raises(viz.VizError, match="not one chain.*one layer and direction"):
        viz.draw(loss, "backward", jacobians=True)


def test_jacobians_true_on_a_bidirectional_network_follows_its_forward_direction():
    """The joined output of both directions was named h too, and, made last in each step, was
    what jacobians=True found: not one chain, an error. It is named [h, h_reverse] now, and the
    states named h are the first layer's forward direction: their norms are the analysis's."""
    net = nn.RNN(2, 3, bidirectional=True, seed=0)
    outputs, _ = net(np.random.default_rng(0).normal(size=(3, 1, 2)))
    loss = sum((o * o).sum() for o in outputs)
    loss.backward()
    diagram = viz.draw(loss, "backward", jacobians=True)
    states = analysis.hidden_states(loss)
    want = analysis.jacobian_norms(states)
    drawn = {it.lines[0]: it.lines for it in diagram.layout.items.values() if it.kind == "tensor"}
    assert [s.shape for s in states] == [(1, 3)] * 3
    for t in range(2):
        assert f"‖∂h(2)/∂h({t})‖ = {fmt(want.to_last[t])}" in drawn[f"h({t})"]
        assert f"‖∂h({t + 1})/∂h({t})‖ = {fmt(want.one_step[t])}" in drawn[f"h({t + 1})"]


def test_none_turns_an_overlay_off_like_false():
    roots = unrolled_example("seq2seq", 3, None)
    assert viz.draw(roots, "forward", split=None, jacobians=None).source == viz.draw(roots, "forward").source


def test_a_long_recording_says_its_totals_were_not_compared_with_the_pass():
    import tinygrad_rnn as tr

    W = Tensor(np.array([[0.5]]), requires_grad=True, name="W")
    h, total = Tensor(np.array([[1.0]])), None
    for t in range(2001):
        with tr.step(t):
            h = (h @ W).tanh()
            h.name = "h"
    total = (h * h).sum()
    total.backward()
    optim.clip_grad_norm([W], 1e-9)
    diagram = viz.draw(total, "backward", max_steps=4)
    assert not diagram.description.checked and not diagram.description.clipped
    assert "not compared with the shares" in _totals(diagram)


# --- which backward pass a diagram shows, now that backward() releases intermediate gradients ---


def _seq2seq_pass(seed: int = 0):
    from tinygrad_rnn import nn

    rng = np.random.default_rng(seed)
    model = nn.SeqToSeq(2, 4, 3, seed=seed)
    outputs = model(rng.normal(size=(5, 2, 2)))
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(5, 2)))
    return model, outputs, loss


def _grad_norms(desc) -> dict:
    return {n.key: n.grad_norm for n in desc.nodes if n.drawn}


def test_a_released_pass_draws_what_a_kept_one_draws_from_any_tensor_it_went_through():
    from tinygrad_rnn import Tensor

    model, outputs, loss = _seq2seq_pass()
    total = loss + (outputs[-1] * outputs[-1]).sum() * Tensor(0.1)
    total.backward()  # the pass starts at the total, goes through loss and outputs[-1]
    released = [_grad_norms(viz.describe(loss)), _grad_norms(viz.describe(outputs[-1]))]
    model.zero_grad()
    total.backward(retain_grads=True)
    kept = [_grad_norms(viz.describe(loss)), _grad_norms(viz.describe(outputs[-1]))]
    assert released == kept
    assert sum(v is not None for v in released[0].values()) > 20
    model.zero_grad()
    (loss + 0.0).backward()  # a root nobody holds: what loss's diagram needs is gone, and it says so
    with pytest.raises(viz.VizError, match=r"no gradients of this graph are kept.*retain_grads=True"):
        viz.draw(outputs[-1], "backward")


def test_a_parameter_changed_after_a_released_pass_is_refused_and_a_kept_pass_still_draws_its_own():
    from tinygrad_rnn import BackwardError, optim

    model, _, loss = _seq2seq_pass()
    loss.backward()
    before = _grad_norms(viz.describe(loss))
    optim.SGD(model.parameters(), lr=0.5).step()
    with pytest.raises(BackwardError, match=r"U, W, b, c changed in place since .*retain_grads=True"):
        viz.describe(loss)
    model, _, loss = _seq2seq_pass()
    loss.backward(retain_grads=True)
    optim.SGD(model.parameters(), lr=0.5).step()
    after = {k: v for k, v in _grad_norms(viz.describe(loss)).items()}
    assert {k: v for k, v in after.items() if k in before and before[k] is not None} == {
        k: v for k, v in before.items() if v is not None and k in after
    }
