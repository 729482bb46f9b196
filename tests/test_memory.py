"""Memory: the graph is freed as soon as the loss is dropped, training does not grow, and a long
unroll costs a bounded number of bytes per node.

The graph is a tree of references from the loss back to the inputs (a tensor holds its parents,
never its children), so reference counting alone frees it: the tests below switch the cyclic
garbage collector off and check with ``weakref`` that every tensor of an unrolled RNN is gone
the moment the last strong reference is deleted, also after viz has read the graph and after
anomaly mode stopped a backward pass.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest

import viz
from tinygrad_rnn import AnomalyError, BackwardError, Tensor, detect_anomaly, keep_values, nn, step
from tinygrad_rnn import functional as F
from tinygrad_rnn.app import training
from tinygrad_rnn.autograd import Released, walk
from tinygrad_rnn.optim import Adam

# ----------------------------------------------------------------------------------------------
# (a) the graph is freed by reference counting alone
# ----------------------------------------------------------------------------------------------


@contextmanager
def cyclic_gc_disabled() -> Iterator[None]:
    """Only reference counting frees objects inside the block: a cycle would survive it."""
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _unroll(T: int = 6) -> tuple[nn.SeqToSeq, list[Tensor], Tensor]:
    """A SeqToSeq unrolled over T steps with its loss on every output (not yet backpropagated)."""
    rng = np.random.default_rng(0)
    model = nn.SeqToSeq(2, 4, 3, seed=0)
    outputs = model(rng.normal(size=(T, 2, 2)))
    loss = F.sequence_loss(outputs, rng.integers(0, 3, size=(T, 2)))
    return model, outputs, loss


def _refs_to_the_graph(loss: Tensor, model: nn.Module) -> list[weakref.ref]:
    """A weak reference to every tensor of the graph that is not a parameter: hidden states,
    outputs, inputs, per-step losses, the loss itself."""
    params = {id(p) for p in model.parameters()}
    return [weakref.ref(t) for t in walk(loss) if id(t) not in params]


def _survivors(refs: list[weakref.ref]) -> list[str]:
    return [f"{t.op or t.name or 'leaf'} at step {t.step}" for t in (r() for r in refs) if t is not None]


def _check_freed(refs: list[weakref.ref], model: nn.Module) -> None:
    survivors = _survivors(refs)
    assert not survivors, f"{len(survivors)} of {len(refs)} tensors outlived the graph: {survivors[:5]}"
    assert all(p.grad is not None for p in model.parameters()), "the parameters keep their gradients"


def test_the_graph_is_freed_when_the_loss_is_dropped() -> None:
    with cyclic_gc_disabled():
        model, outputs, loss = _unroll()
        loss.backward()
        hidden = [o.parents[1] for o in outputs]  # o(t) = c + h(t) V: its parents are (c, h(t), V)
        assert all(h.name == "h" for h in hidden)
        refs = _refs_to_the_graph(loss, model)
        named = [weakref.ref(t) for t in (*hidden, *outputs, loss)]
        assert len(refs) > 4 * len(outputs) and len(_survivors(named)) == len(named)  # alive until deleted
        del hidden, outputs, loss
        _check_freed(refs + named, model)


def test_the_graph_is_freed_after_viz_has_read_it() -> None:
    """describe() and draw() read the graph; what they return (kept alive here) holds no tensor,
    and they leave no cache or cycle behind that would keep the graph alive."""
    with cyclic_gc_disabled():
        model, outputs, loss = _unroll()
        loss.backward()
        refs = _refs_to_the_graph(loss, model)
        description = viz.describe([loss, *outputs])
        diagrams = [viz.draw([loss, *outputs], view) for view in viz.VIEWS]
        sources = [d.source for d in diagrams]
        assert len(description.nodes) == len(refs) + len(list(model.parameters()))
        del outputs, loss
        _check_freed(refs, model)
        assert all(d.source == s for d, s in zip(diagrams, sources, strict=True)), "the diagrams still stand"


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_the_graph_is_freed_after_anomaly_mode_stops_backward() -> None:
    """An AnomalyError raised in the middle of backward() leaves nothing holding the graph once the
    exception itself is gone (its traceback holds the frames of the pass)."""
    with cyclic_gc_disabled():
        model, outputs, loss = _unroll()
        # sqrt(0) = 0 is finite, but its derivative 1 / (2 sqrt(0)) is not: backward stops here
        total = loss + ((outputs[-1] * 0.0) ** 0.5).sum()
        refs = _refs_to_the_graph(total, model)
        message = ""
        try:
            with detect_anomaly():
                total.backward()
        except AnomalyError as e:
            message = str(e)
        assert "backward of pow" in message
        del outputs, loss, total
        survivors = _survivors(refs)
        assert not survivors, f"{len(survivors)} of {len(refs)} tensors outlived the graph: {survivors[:5]}"


# ----------------------------------------------------------------------------------------------
# (b) a long training run's memory stays flat
# ----------------------------------------------------------------------------------------------

GROWTH_LIMIT = 64 * 1024  # bytes; keeping one 8x8 array per step (~0.6 KB) adds ~110 KB over the 180 steps


def _growth(run: Callable[[int], None], n: int, warmup: int) -> int:
    """Bytes traced by tracemalloc after ``run(i)`` for i = 1..n, minus those after i = ``warmup``."""
    gc.collect()
    tracemalloc.start()
    try:
        base = 0
        for i in range(1, n + 1):
            run(i)
            if i == warmup:
                gc.collect()
                base = tracemalloc.get_traced_memory()[0]
        gc.collect()
        return tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()


def test_memory_is_flat_over_200_adam_steps() -> None:
    rng = np.random.default_rng(0)
    model = nn.SeqToVec(4, 8, 3, seed=0)
    optimizer = Adam(model.parameters(), lr=1e-2)
    xs = rng.normal(size=(16, 10, 8, 4))  # 16 batches of (T=10, B=8, I=4), cycled
    ys = rng.integers(0, 3, size=(16, 8))
    losses = np.zeros(201)

    def train_step(i: int) -> None:
        loss = F.cross_entropy(model(xs[i % 16]), ys[i % 16])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses[i] = loss.item()

    growth = _growth(train_step, 200, warmup=20)
    print(f"200 Adam steps: {growth:+,} bytes from step 20 to step 200")
    assert growth < GROWTH_LIMIT
    assert losses[181:].mean() < losses[1:21].mean(), "the steps really trained"


def _last_step_loss(model, images, labels):
    return F.cross_entropy(model(images.transpose(1, 0, 2)), labels)


def test_memory_is_flat_over_train_epoch_runs() -> None:
    rng = np.random.default_rng(1)
    images = rng.random((48, 6, 5))  # 48 "images" of 6 rows of 5 pixels
    labels = rng.integers(0, 3, size=48)
    model = nn.SeqToVec(5, 8, 3, seed=1)
    optimizer = Adam(model.parameters(), lr=1e-2)
    progress = training.Progress()

    def epoch(i: int) -> None:
        progress.epoch, progress.batch, progress.loss_sum, progress.seen = i, 0, 0.0, 0
        order = training.epoch_batches(48, 8, 0, i)
        training.train_epoch(model, optimizer, _last_step_loss, (images, labels), order, progress, clip=1.0)

    growth = _growth(epoch, 8, warmup=2)
    print(f"train_epoch: {growth:+,} bytes from epoch 2 to epoch 8")
    assert growth < GROWTH_LIMIT
    assert progress.seen == 48 and np.isfinite(progress.loss_sum)


# ----------------------------------------------------------------------------------------------
# (c) bytes per node of a long unroll
# ----------------------------------------------------------------------------------------------


def test_a_20000_step_unroll_costs_under_1kb_per_node() -> None:
    T, B, H = 20_000, 1, 8
    rnn = nn.RNN(1, H, seed=0)
    xs = np.random.default_rng(0).normal(size=(T, B, 1))
    gc.collect()
    tracemalloc.start()
    try:
        outputs, h_T = rnn(xs)
        loss = h_T.sum()
        loss.backward()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    nodes = len(walk(loss))
    per_node = peak / nodes
    print(f"{T:,}-step unroll (B={B}, H={H}): {nodes:,} nodes, peak {peak:,} bytes, "
          f"{per_node:.0f} bytes/node, {peak / T:.0f} bytes/step")  # fmt: skip
    assert nodes >= 2 * T  # x(t) and h(t) per step
    assert rnn.W.grad is not None and np.isfinite(rnn.W.grad).all()
    assert per_node < 1024
    del outputs, h_T, loss


# ----------------------------------------------------------------------------------------------
# (d) the buffer pool: the next step's graph reuses the last one's arrays, never one in use
# ----------------------------------------------------------------------------------------------


@contextmanager
def pool_limit(limit: int) -> Iterator[None]:
    from tinygrad_rnn import memory

    before = memory._POOL.limit
    memory.empty_pool()
    memory.set_pool_limit(limit)
    try:
        yield
    finally:
        memory.set_pool_limit(before)
        memory.empty_pool()


def _rnn_step(seed: int = 0, T: int = 6) -> tuple[Tensor, list[Tensor], dict[str, Tensor]]:
    """A by-hand RNN at sizes the pool takes ((32, 128) float64 = 32 kB per array)."""
    rng = np.random.default_rng(seed)
    W = Tensor(rng.normal(size=(128, 128)) * 0.1, requires_grad=True, name="W")
    U = Tensor(rng.normal(size=(8, 128)), requires_grad=True, name="U")
    b = Tensor(rng.normal(size=128), requires_grad=True, name="b")
    h = Tensor(np.zeros((32, 128)))
    hs = []
    for _ in range(T):
        h = (b + h @ W + Tensor(rng.normal(size=(32, 8))) @ U).tanh() * 1.5 - h
        hs.append(h)
    return (h * h).sum(), hs, {"W": W, "U": U, "b": b}


def test_the_next_graph_reuses_the_last_ones_arrays_and_computes_the_same_bits() -> None:
    from tinygrad_rnn import memory

    with pool_limit(0):
        loss0, hs0, p0 = _rnn_step()
        loss0.backward()
        assert memory.pool_bytes() == 0
    with pool_limit(64 << 20):
        loss1, hs1, p1 = _rnn_step()
        loss1.backward()
        assert memory.pool_bytes() > 0
        first = {id(t.data) for t in walk(loss1) if t.data.nbytes >= memory.MIN_BYTES and t.parents}
        held = memory.pool_bytes()
        del loss1, hs1
        loss2, hs2, p2 = _rnn_step()
        loss2.backward()
        again = {id(t.data) for t in walk(loss2) if t.data.nbytes >= memory.MIN_BYTES and t.parents}
        assert first == again  # the second graph lives in the first one's arrays
        assert memory.pool_bytes() == held  # and the pool did not grow
    assert loss2.item() == loss0.item()
    for t0, t2 in zip(hs0, hs2, strict=True):
        assert np.array_equal(t0.data, t2.data)
    for k in p0:
        assert np.array_equal(p0[k].grad, p2[k].grad)


def test_an_array_someone_still_holds_is_never_handed_out_again() -> None:
    with pool_limit(64 << 20):
        loss, hs, _ = _rnn_step(1)
        kept = [h.data for h in hs[::2]]  # arrays only, their tensors dropped
        view = hs[1].data[:, :4]  # a view keeps its base
        copies = [k.copy() for k in kept]
        view_copy = view.copy()
        del loss, hs
        for seed in range(2, 6):
            loss, _, _ = _rnn_step(seed)
            loss.backward()
        for k, c in zip(kept, copies, strict=True):
            assert np.array_equal(k, c)
        assert np.array_equal(view, view_copy)


def test_the_pool_keeps_its_limit_can_be_emptied_and_is_per_thread() -> None:
    import threading

    from tinygrad_rnn import memory

    with pool_limit(100_000):  # three (32, 128) float64 arrays fit
        graphs = [_rnn_step(s) for s in range(3)]  # all alive: nothing can be reused
        assert 0 < memory.pool_bytes() <= 100_000
        seen = []
        worker = threading.Thread(target=lambda: seen.append(memory.pool_bytes()))
        worker.start()
        worker.join()
        assert seen == [0]  # another thread starts with its own, empty pool
        memory.empty_pool()
        assert memory.pool_bytes() == 0
        del graphs
    for bad in (-1, 1.5, True, "1"):
        with pytest.raises(ValueError, match="set_pool_limit: limit must be a number of bytes"):
            memory.set_pool_limit(bad)


def test_a_full_pool_drops_the_free_arrays_of_shapes_no_longer_asked_for() -> None:
    from tinygrad_rnn import memory

    f64 = np.dtype(np.float64)
    with pool_limit(5 * 32 * 128 * 8):  # five (32, 128) float64 arrays
        held = [memory.output((32, 128), f64) for _ in range(2)]  # in use: must stay
        for _ in range(3):
            memory.output((32, 128), f64)  # dropped at once: one free array, reused each time
        assert memory.pool_bytes() == 3 * 32 * 128 * 8
        new = [memory.output((16, 256), f64) for _ in range(3)]  # another shape: the third needs room
        assert memory.pool_bytes() == 5 * 32 * 128 * 8
        old_shape = memory._POOL.queues[((32, 128), f64)]
        assert len(old_shape) == 2 and all(any(a is q for q in old_shape) for a in held)  # the free one went
        assert all(any(a is q for q in memory._POOL.queues[((16, 256), f64)]) for a in new)


def test_a_graph_larger_than_the_pool_costs_one_look_per_new_array_not_a_scan_of_the_pool(monkeypatch) -> None:
    """A T = 10,000 graph holds every pooled array: looking through the whole pool for free ones
    at each new array made the by-hand step 26x numpy's. The looks must stay linear in the arrays."""
    from tinygrad_rnn import memory

    looks = []
    refs_at = memory.refs_at
    monkeypatch.setattr(memory, "refs_at", lambda q, i: looks.append(1) or refs_at(q, i))
    f64 = np.dtype(np.float64)
    with pool_limit(64 * 16 * 128 * 8):  # 64 arrays of (16, 128)
        held = [memory.output((16, 128), f64) for _ in range(2_000)]  # all in use, as a long graph's
        assert len(looks) < 4 * len(held)  # a scan of 64 arrays each time would be over 120,000
        assert memory.pool_bytes() == 64 * 16 * 128 * 8
        del held
        memory.output((16, 128), f64)  # the pool's arrays are free again: reused
        assert memory._POOL.arrays == 64


# ----------------------------------------------------------------------------------------------
# (e) a step block gives up the values no backward rule needs, and they come back when read
# ----------------------------------------------------------------------------------------------


def _by_hand(seed: int = 0, T: int = 5, B: int = 64) -> tuple[Tensor, dict[str, Tensor]]:
    """A by-hand RNN in step blocks, as the README writes it; (64, 128) float64 = 32 kB values."""
    rng = np.random.default_rng(seed)
    W = Tensor(rng.normal(size=(128, 128)) * 0.1, requires_grad=True, name="W")
    U = Tensor(rng.normal(size=(8, 128)), requires_grad=True, name="U")
    b = Tensor(rng.normal(size=128), requires_grad=True, name="b")
    h = Tensor(np.zeros((B, 128)), name="h0")
    for t in range(T):
        with step(t):
            h = (b + h @ W + Tensor(rng.normal(size=(B, 8)), name="x") @ U).tanh()
    return (h * h).sum(), {"W": W, "U": U, "b": b}


def _given_up(root: Tensor) -> list[str]:
    return [f"{t.op}({t.step})" for t in walk(root) if type(t._data) is Released]


def test_a_step_gives_up_the_values_no_rule_needs_and_keeps_the_rest() -> None:
    """Per step, h W, x U and the two sums are needed by no backward rule (matmul saves its
    inputs, add nothing) and only the graph refers to them: given up. tanh's output is saved by
    its own rule and by the next step's h W: kept. So are the leaves and the user's h."""
    loss, params = _by_hand()
    per_step = ("add", "add", "matmul", "matmul")
    assert sorted(_given_up(loss)) == sorted(f"{op}({t})" for t in range(5) for op in per_step)
    for t in walk(loss):
        if t.op in ("tanh", "mul", "sum") or t.is_leaf:
            assert type(t._data) is np.ndarray, t.op
    with keep_values():
        kept, _ = _by_hand()
    assert _given_up(kept) == []


def test_values_given_up_come_back_bit_for_bit_and_change_no_gradient_or_diagram() -> None:
    """Read through walk (as viz reads them), every given-up value is computed again with the
    bits it had; the gradients and the DOT of every view are those of a graph that kept them."""
    with keep_values():
        kept, kept_params = _by_hand()
    loss, params = _by_hand()
    kept.backward()
    loss.backward()
    for k in params:
        assert np.array_equal(params[k].grad, kept_params[k].grad)
    for view in viz.VIEWS:
        assert viz.draw(loss, view).source == viz.draw(kept, view).source, view
    for a, b in zip(walk(loss), walk(kept), strict=True):
        assert a.op == b.op and np.array_equal(a.data, b.data)
    assert _given_up(loss) == []  # read once: kept from then on


def test_what_the_user_holds_is_never_given_up() -> None:
    rng = np.random.default_rng(0)
    W = Tensor(rng.normal(size=(128, 128)), requires_grad=True)
    h = Tensor(rng.normal(size=(64, 128)))
    with step(0):
        named = h @ W  # a name refers to it
        listed = [h @ W * 1.0]  # a list refers to the product, the graph to its input
        array = (h @ W).data  # only the array is held; its tensor is dropped
        out = (named + listed[0]).tanh()
    assert type(named._data) is np.ndarray and type(listed[0]._data) is np.ndarray
    before = array.copy()
    with step(1):
        for _ in range(5):
            (out @ W).tanh()  # new outputs from the pool must not land in the held array
    assert np.array_equal(array, before)
    del named, listed
    with step(2):
        (out @ W).sum()
    named_again = out.parents[0].parents[0]
    assert named_again.op == "matmul" and type(named_again._data) is np.ndarray  # step 0's block looked at it once


def test_a_value_whose_inputs_changed_in_place_since_is_not_computed_again_wrong() -> None:
    """After an optimizer step the inputs of a given-up value differ: reading it raises and says
    how to keep it, rather than showing another model's numbers."""
    loss, params = _by_hand(T=3)
    params["W"].data += 0.01
    product = next(t for t in walk(loss) if t.op == "matmul" and t.step == 2 and t.parents[1] is params["W"])
    with pytest.raises(BackwardError, match=r"matmul at step 2: .*changed in place.*keep_values\(\)"):
        _ = product.data
    with keep_values():
        kept, kept_params = _by_hand(T=3)
    kept_params["W"].data += 0.01
    assert all(np.isfinite(t.data).all() for t in walk(kept))


def test_small_values_ops_with_arguments_and_users_functions_keep_their_values() -> None:
    from tinygrad_rnn import Function

    class Double(Function):
        @staticmethod
        def forward(ctx, a):
            return 2 * a

        @staticmethod
        def backward(ctx, g):
            return 2 * g

    loss, _ = _by_hand(B=1)  # (1, 128): 1 kB values, not worth giving up
    assert _given_up(loss) == []
    W = Tensor(np.ones((128, 128)), requires_grad=True)
    with step(0):
        out = (Double.apply(Tensor(np.ones((64, 128))) @ W) + 1).sum(axis=1, keepdims=True).tanh()
    # the product and the add are needed by no rule: given up; Double's output and the sum
    # (ops with non-tensor arguments) are not, though no rule needs them either
    kinds = {t.op: type(t._data).__name__ for t in walk(out) if t.parents}
    assert kinds == {"matmul": "Released", "Double": "ndarray", "add": "Released", "sum": "ndarray", "tanh": "ndarray"}


def test_giving_up_values_halves_the_by_hand_steps_memory() -> None:
    """The by-hand graph after the forward pass, and the peak over forward + backward, with and
    without keep_values (the issue's row-MNIST numbers are in benchmarks/RESULTS.md)."""

    def traced(keep: bool) -> tuple[int, int]:
        tracemalloc.start()
        if keep:
            with keep_values():
                loss, _ = _by_hand(T=20)
        else:
            loss, _ = _by_hand(T=20)
        graph, _ = tracemalloc.get_traced_memory()
        loss.backward()
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return graph, peak

    value = 64 * 128 * 8
    with pool_limit(0):  # what the graph itself holds
        released, kept = traced(False), traced(True)
    assert kept[0] - released[0] > 0.9 * 4 * 20 * value  # four values per step given up
    assert released[1] < 0.6 * kept[1]
    with pool_limit(64 << 20):  # the pool hands the given-up arrays out again (give_back): no more memory
        pooled = traced(False)
    assert pooled[1] < released[1] + 8 * value


def test_the_next_step_computes_into_the_arrays_the_last_step_gave_up() -> None:
    from tinygrad_rnn import memory

    with pool_limit(64 << 20):
        loss, _ = _by_hand(T=20)
        arrays = memory._POOL.arrays
        assert arrays < 20 + 10  # one h per step (kept), and the few given up and taken again
        with keep_values():
            kept, _ = _by_hand(T=20)
        assert memory._POOL.arrays - arrays > 4 * 20  # kept, every value is an array of its own
        stranger = np.ones((64, 128))
        memory.give_back(stranger)  # not the pool's: ignored
        assert memory.output((64, 128), stranger.dtype) is not stranger


def test_a_change_anywhere_in_an_input_is_caught_and_infinities_come_back() -> None:
    """A review's cases: an optimizer step that leaves a value's ends alone (two output units
    without gradient) must not make restore return the new model's numbers; a value holding
    -inf (a log of a masked zero) must come back, and anomaly mode must still name the log."""
    from tinygrad_rnn import AnomalyError, optim

    rng = np.random.default_rng(0)
    x = Tensor(rng.normal(size=(64, 128)), name="x")
    W = Tensor(rng.normal(size=(128, 128)) * 0.1, requires_grad=True, name="W")
    mask = np.ones(128)
    mask[[0, -1]] = 0
    with step(0):
        h = (x @ W).tanh()
    loss = (h * mask).sum()
    loss.backward()
    optim.SGD([W], lr=0.1).step()
    product = h.parents[0]
    with pytest.raises(BackwardError, match="changed in place"):
        _ = product.data

    pad = np.zeros((64, 128))
    pad[0, 0] = -1e9
    with np.errstate(all="ignore"), step(0):
        out = ((x @ W + pad).relu().log() + 1.0).sigmoid().sum()
    given_up = [t for t in walk(out) if type(t._data) is Released]
    assert [t.op for t in given_up] == ["matmul", "add", "log", "add"]
    assert given_up[2].data[0, 0] == given_up[3].data[0, 0] == -np.inf
    with np.errstate(all="ignore"), step(0):
        out = ((x @ W + pad).relu().log() + 1.0).sigmoid().sum()
    with detect_anomaly(), pytest.raises(AnomalyError, match="log at step 0"):
        out.backward()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_values_of_every_float_dtype_are_given_up_and_come_back(dtype) -> None:
    W = Tensor(np.full((128, 128), 0.01, dtype=dtype), requires_grad=True)
    x = np.random.default_rng(0).normal(size=(128, 128)).astype(dtype)
    with step(0):
        out = (Tensor(x) @ W + 1.0).tanh()
    with keep_values():
        kept = (Tensor(x) @ W + 1.0).tanh()
    given_up = out.parents[0]
    assert type(given_up._data) is Released and given_up.dtype == dtype
    assert np.array_equal(given_up.data, kept.parents[0].data)


def test_a_value_a_rule_saved_is_kept_with_the_pool_off_or_full() -> None:
    """sigmoid's rule saves its output: with the pool off, that saved copy is the array's one
    other reference, which must not be taken for the pool's."""
    rng = np.random.default_rng(0)
    W = Tensor(rng.normal(size=(128, 128)), requires_grad=True)
    with pool_limit(0), step(0):
        s = (Tensor(rng.normal(size=(64, 128))) @ W).sigmoid() + 2.0  # add saves nothing
    saved = s.parents[0]
    assert saved.op == "sigmoid" and type(saved._data) is np.ndarray


def test_a_step_block_closing_out_of_order_leaves_no_list_behind() -> None:
    """A generator's step(7) closed inside the caller's step(1): afterwards nothing records into
    an ended block's list, so products dropped later are freed at once. (Run in a context of its
    own: closing out of order leaves the step tag at 7, as each block puts back what it found.)"""
    import contextvars

    contextvars.copy_context().run(_close_out_of_order)


def _close_out_of_order() -> None:
    from tinygrad_rnn.modes import MODE, RECORDED

    W = Tensor(np.full((128, 128), 0.01), requires_grad=True)
    x = Tensor(np.ones((64, 128)))

    def generator() -> Iterator[Tensor]:
        with step(7):
            yield x @ W

    g = generator()
    next(g)
    with step(1):
        next(g, None)
    assert MODE.get()[RECORDED] is None
    with cyclic_gc_disabled():
        refs = []
        for _ in range(10):
            y = x @ W
            refs.append(weakref.ref(y))
            del y
        assert all(r() is None for r in refs)
    with keep_values():
        g = generator()
        next(g)
    with step(2):
        next(g, None)
        (x @ W).tanh()
    with step(3):
        out = (x @ W).tanh()
    assert type(out.parents[0]._data) is Released  # giving up works again


def test_a_full_pool_drops_given_back_arrays_of_a_shape_no_longer_asked_for() -> None:
    from tinygrad_rnn import memory

    with pool_limit(4 * 64 * 128 * 8):
        _by_hand(T=2)
        assert memory._POOL.given_back
        for _ in range(3):
            _by_hand(T=2, B=96)
        assert ((64, 128), np.dtype(np.float64)) not in memory._POOL.queues


def test_retain_grads_keeps_the_values_for_a_diagram_after_the_optimizer_step_and_repr_computes_nothing() -> None:
    from tinygrad_rnn import optim

    loss, params = _by_hand(T=3)
    product = next(t for t in walk(loss) if type(t._data) is Released)
    assert "matmul" in repr(product) or "add" in repr(product)
    assert len(product) == 64 and type(product._data) is Released  # shape questions restore nothing
    loss.backward(retain_grads=True)
    assert _given_up(loss) == []
    optim.SGD(list(params.values()), lr=0.1).step()
    assert "->" in viz.draw(loss, "both").source
