"""Every benchmark of the engine against hand-written numpy, and against the peers installed.

``make bench`` runs this file. It prints markdown:

1. the row-MNIST training step (B=128, T=28, I=28, H=150, cross-entropy on the last step, SGD)
   for float32 and float64, with 1 BLAS thread and with all threads: the engine by hand and
   through ``nn.RNN``, numpy BPTT, and whichever of PyTorch, HIPS autograd, MyGrad and JAX
   import here (the others are listed as skipped). Every implementation is checked to compute
   numpy's gradients first; then all are timed interleaved in one process, and the ratio is
   each one's median over numpy's median;
2. with 1 thread only: scaling in T and H (time and peak memory), the engine's cost per node,
   a 100,000-step unroll (time, bytes per node, growth across runs), the forward diagram's
   render time against T, training throughput (examples/row_mnist.py's epoch against the
   same loop in numpy), the LSTM step (``nn.LSTM`` against an LSTM's BPTT by hand in numpy,
   ``lstm_step.py``), where the step's time goes with and without allocator tuning
   (``allocator.py``), and the engine's numpy work alone against the engine (``floor.py``).

Then, from the 1-thread processes' numbers, issue 14's targets: each one's value in this run,
whether it is met, and for one that is not, what the floor section measured for it (the numpy
work the graph itself asks for, and the engine's own time per node beyond it) and the next step.

BLAS reads its thread count once, when numpy is loaded, so each thread setting runs in a fresh
process of this same script (``--threads N``, with the thread variables set in its
environment), one process per section, and this process combines their outputs. A section's
process is as a user's script leaves it: nothing tunes the allocator or sets an environment
variable other than the thread counts, and no earlier section has grown its heap
(``--tune-allocator`` calls ``tinygrad_rnn.memory.tune_allocator()`` first, for comparison; the
``allocator`` section shows both). Nothing here asserts a time.

Usage (from the repository root)::

    .venv/bin/python benchmarks/run_all.py [--quick] [--reps N] [--only step,scaling,...]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import harness

SECTIONS = (
    "step",
    "scaling",
    "overhead",
    "unroll",
    "render",
    "training",
    "lstm",
    "allocator",
    "tricks",
    "charrnn",
    "floor",
)
ONE_THREAD_ONLY = SECTIONS[1:]

_NEXT_PER_NODE = (
    "the floor leaves under 1 µs per node for making and recording a tensor, walking, calling the rule and "
    "adding into the leaves, about one Python call and one object; fewer nodes for the same work (nn.RNN's "
    "fused step: 2 nodes per time step) is what gets under it"
)
_NEXT_CHAR = (
    "fewer nodes per character (4 op nodes today): the head and the loss as one node, keeping the per-step "
    "loss that the diagrams and the ledger show"
)
_NEXT_BY_HAND = (
    "the engine's own time per node, as at B=1; at these sizes part of it is the checksum of each value a step "
    "block gives up (four per time step): a cheaper check, or nn.RNN's fused step (two nodes per time step)"
)
_NEXT_SUBNORMAL = (
    "float32's gradient through time goes subnormal, which every implementation pays (the scaling section's "
    "note); the float64 row measures the engine"
)
#: issue 14's targets (1 BLAS thread, the process as a user's script leaves it): the key a section
#: measured it under (``harness.measured``; the floor section's row that explains it, if one does,
#: records under the same key: ``floor.Workload.explains``), the target, the most allowed, its unit,
#: the section, and the next step if it is missed
TARGETS = (
    ("step by hand float32", "row-MNIST step by hand, float32", 1.10, "x", "step", _NEXT_BY_HAND),
    ("step by hand float64", "row-MNIST step by hand, float64", 1.10, "x", "step", _NEXT_BY_HAND),
    ("step nn.RNN float32", "row-MNIST step through nn.RNN, float32", 1.00, "x", "step", ""),
    ("step nn.RNN float64", "row-MNIST step through nn.RNN, float64", 1.00, "x", "step", ""),
    ("H=64 by hand float32", "H=64 by hand, float32", 1.25, "x", "scaling", _NEXT_BY_HAND),
    ("H=64 by hand float64", "H=64 by hand, float64", 1.25, "x", "scaling", _NEXT_BY_HAND),
    ("T=10,000 by hand float32", "T=10,000 (B=32) by hand, float32", 1.15, "x", "scaling", _NEXT_SUBNORMAL),
    ("T=10,000 by hand float64", "T=10,000 (B=32) by hand, float64", 1.15, "x", "scaling", _NEXT_BY_HAND),
    ("per node by hand", "per-node overhead at B=1, by hand", 3.0, " µs", "overhead", _NEXT_PER_NODE),
    ("char-RNN", "char-RNN at batch 1, against the numpy loop", 1.4, "x", "charrnn", _NEXT_CHAR),
    ("peak by hand", "peak memory of the by-hand step (worst scaling row)", 2.0, "x", "scaling", ""),
    ("peak nn.RNN", "peak memory through nn.RNN (worst scaling row)", 1.3, "x", "scaling", ""),
    ("unroll peak bytes per node", "100,000-step unroll: bytes per node", 1024, " B", "unroll", ""),
    ("unroll growth bytes per node per pass", "100,000-step unroll: growth per pass, per node (flat)", 1, " B",
     "unroll", ""),
)  # fmt: skip


def targets_table(measures: dict[str, float], quick: bool) -> str:
    """Issue 14's targets against this run's numbers: met or not, and for one not met, its floor
    (from the floor section, when it ran) and the next step."""
    rows = []
    for key, what, most, unit, section, step in TARGETS:
        value, wanted = measures.get(key), f"<= {most:.2f}x" if unit == "x" else f"<= {most:,g}{unit}"
        if value is None:
            where = f"section {section}" + (", at the full sizes" if quick else "")
            rows.append([what, wanted, f"not measured in this run ({where})", "—", "—"])
            continue
        met = value <= most
        parts = [step] if step and not met else []
        if not met and f"floor: {key}" in measures:  # its row of the floor section, with this target beside it
            parts.insert(0, f"floor: {measures[f'floor: {key}']:.2f}x numpy, {measures[f'floor per node: {key}']:.2f} "
                         f"µs per node; the engine {measures[f'beyond the floor per node: {key}']:.2f} µs per node "
                         "beyond it")  # fmt: skip
        left = "; ".join(parts) or "—"
        shown = f"{value:.2f}{unit}" if unit != " B" else f"{value:,.0f}{unit}"
        if not met and f"{value:.2f}" == f"{most:.2f}":  # a miss that two decimals would hide
            shown = f"{value:.3f}{unit}"
        rows.append([what, wanted, shown, "yes" if met else "**no**", left])
    note = " (--quick: smoke-test sizes, so these are not the issue's numbers)" if quick else ""
    return (
        f"### Issue 14's targets, from this run (1 BLAS thread, user defaults){note}\n\n"
        + harness.table(["target", "wanted", "this run", "met", "what is left, and the next step"], rows, 5)
    )


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="small sizes and few repetitions: a smoke test (~1 min)")
    p.add_argument("--reps", type=int, default=None, help="timed rounds of the step table (default 100; quick 5)")
    p.add_argument("--only", default=",".join(SECTIONS), help=f"comma-separated sections of {', '.join(SECTIONS)}")
    p.add_argument("--dtype", choices=("float32", "float64", "both"), default="both")
    p.add_argument("--epochs", type=int, default=None, help="training epochs per trainer (default 10; quick 2)")
    p.add_argument("--unroll-runs", type=int, default=20, help="timed passes of the long unroll (default 20)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="run in this process with N BLAS threads (0: all); by default one process per setting, 1 and all",
    )
    p.add_argument(
        "--tune-allocator", action="store_true", help="call memory.tune_allocator() in every process (not a default)"
    )
    p.add_argument("--json", type=Path, default=None, help=argparse.SUPPRESS)  # the step results, for the parent
    p.add_argument("--part", action="store_true", help=argparse.SUPPRESS)  # a section without the heading
    p.add_argument("--measures", type=Path, default=None, help=argparse.SUPPRESS)  # harness.MEASURED, for the parent
    return p


if __name__ == "__main__":
    # The thread variables must be in place before anything imports numpy: set them first.
    _threads = _parser().parse_known_args()[0].threads
    if _threads is not None:
        os.environ.update(harness.thread_env(_threads))

import numpy as np  # noqa: E402


def sections(args: argparse.Namespace) -> list[str]:
    """The sections asked for with ``--only``, checked."""
    only = [s for s in args.only.split(",") if s]
    unknown = sorted(set(only) - set(SECTIONS))
    if unknown:
        raise SystemExit(f"run_all.py: unknown section(s) {unknown}; choose from {', '.join(SECTIONS)}")
    return only


def dtypes(choice: str) -> list[str]:
    return ["float32", "float64"] if choice == "both" else [choice]


# --- the row-MNIST step: every implementation, checked, then interleaved --------------------


def checked_implementations(dtype: str, size: dict[str, int] | None = None) -> tuple[dict[str, Any], list[str]]:
    """Every implementation available here (numpy, the engine, the peers) on one seeded problem,
    each checked against numpy BPTT; returns ({key: Implementation}, notes on skipped peers)."""
    import peers
    import row_mnist_step as rms

    size = size or {"B": rms.B, "T": rms.T, "I": rms.I, "H": rms.H}
    found, notes = peers.available()
    problem = rms.make_problem(**size, dtype=np.dtype(dtype).type)
    return rms.build_checked({**rms.BUILDERS, **found}, *problem), notes


def step_results(dtype: str, reps: int, warmup: int) -> dict[str, Any]:
    """Median ms per step of every implementation and its ratio to numpy, from one interleaved run."""
    impls, notes = checked_implementations(dtype)
    times = harness.interleave({key: impl.step for key, impl in impls.items()}, reps, warmup)
    numpy_ms = harness.median_ms(times["numpy"])
    rows = []
    for key, impl in impls.items():
        ms = harness.median_ms(times[key])
        rows.append(
            {"key": key, "name": impl.name, "ms": ms, "ratio": ms / numpy_ms, "error": max(impl.errors.values())}
        )
    return {"dtype": dtype, "rows": rows, "notes": notes, "reps": reps}


def step_table(results: Sequence[dict[str, Any]]) -> str:
    """One row per implementation; for each (dtype[, threads]) column group, ms and ratio."""
    groups = [(r.get("label", r["dtype"]), {row["key"]: row for row in r["rows"]}) for r in results]
    keys = list(dict.fromkeys(key for _, rows in groups for key in rows))
    headers = ["implementation"]
    for label, _ in groups:
        headers += [f"{label} ms", f"{label} ratio"]
    lines = []
    for key in keys:
        name = next(rows[key]["name"] for _, rows in groups if key in rows)
        cells = [f"**{name}**" if key.startswith("engine") else name]
        for _, rows in groups:
            row = rows.get(key)
            cells += [f"{row['ms']:.2f}", f"{row['ratio']:.2f}"] if row else ["—", "—"]
        lines.append(cells)
    return harness.table(headers, lines)


def check_note(results: Sequence[dict[str, Any]]) -> str:
    worst = {r["dtype"]: max(row["error"] for row in r["rows"]) for r in results}
    shown = ", ".join(f"{d}: {e:.1e}" for d, e in worst.items())
    return (
        "Before timing, every implementation's loss and gradients were checked against numpy BPTT "
        f"(np.allclose; largest relative difference {shown})."
    )


def step_section(args: argparse.Namespace, reps: int) -> str:
    import peers
    import row_mnist_step as rms
    from scaling import ENGINES, LABELS

    results = []
    for dtype in dtypes(args.dtype):
        harness.progress(f"step, {dtype}: checking and timing {reps} interleaved rounds")
        results.append(step_results(dtype, reps, warmup=3 if args.quick else 10))
    if args.json is not None:
        args.json.write_text(json.dumps(results))
    for r in results:
        for row in r["rows"]:
            if row["key"] in ENGINES:
                harness.measured(f"step {LABELS[row['key']]} {r['dtype']}", row["ratio"])
    notes = dict.fromkeys(n for r in results for n in r["notes"])
    lines = [
        f"#### Row-MNIST training step (B={rms.B}, T={rms.T}, I={rms.I}, H={rms.H}, {rms.N_CLASSES} classes, SGD): "
        f"median ms per step over {reps} interleaved rounds; ratio = median / numpy's median\n",
        step_table(results),
        "",
        check_note(results),
        f"Peers: {peers.versions()}." + (" " + "; ".join(notes) + "." if notes else ""),
        harness.torch_threads(),
    ]
    return "\n".join(line for line in lines if line is not None)


# --- this process: one thread setting ------------------------------------------------------


def run_here(args: argparse.Namespace) -> str:
    """The sections for this process's thread setting, as markdown."""
    allocator = harness.tune_process_allocator() if args.tune_allocator else harness.DEFAULT_ALLOCATOR
    threads = args.threads if args.threads is not None else 0
    only = sections(args)
    if threads != 1:
        only = [s for s in only if s not in ONE_THREAD_ONLY]
    quick = args.quick
    reps = args.reps or (5 if quick else 100)
    title = "1 BLAS thread" if threads == 1 else f"all threads ({threads or harness.all_threads()})"
    out = [] if args.part else [f"### {title}", f"BLAS threads: {harness.blas_threads()}; {allocator}."]
    if "step" in only:
        out.append(step_section(args, reps))
    if "scaling" in only:
        import scaling

        harness.progress("scaling in T and H")
        out.append(scaling.report([np.dtype(d).type for d in dtypes(args.dtype)], quick, reps=2 if quick else None))
    if "overhead" in only:
        import graph_overhead

        harness.progress("per-node overhead")
        out.append(graph_overhead.per_node(T=200 if quick else 2_000, reps=3 if quick else 20))
    if "unroll" in only:
        import graph_overhead

        harness.progress("long unroll")
        out.append(graph_overhead.unroll(T=2_000 if quick else 100_000, runs=5 if quick else args.unroll_runs))
    if "render" in only:
        import render_time

        harness.progress("render time")
        out.append(render_time.report(quick, reps=1 if quick else 3))
    if "training" in only:
        import training_throughput

        harness.progress("training throughput")
        epochs = args.epochs or (2 if quick else 10)
        out.append(training_throughput.report(dtypes(args.dtype), epochs, train_size=600 if quick else None))
    if "lstm" in only:
        import lstm_step

        harness.progress("LSTM step")
        if quick:
            out.append(lstm_step.table(3, dtypes(args.dtype), batch=16, steps=8))
        else:
            out.append(lstm_step.table(30, dtypes(args.dtype)))
    if "allocator" in only:
        import allocator

        harness.progress("allocator")
        out.append(allocator.report(steps=5 if quick else 30))
    if "charrnn" in only:
        import char_rnn_step

        harness.progress("char-RNN at batch 1")
        out.append(char_rnn_step.report(iterations=20 if quick else 300, warmup=3 if quick else 20))
    if "floor" in only:
        import floor

        harness.progress("the engine's numpy work alone")
        out.append(floor.report(quick, reps=3 if quick else 30))
    if "tricks" in only:
        import tricks

        harness.progress("speed tricks")
        out.append(tricks.report(repeat=2 if quick else 7))
    if args.measures is not None:
        args.measures.write_text(json.dumps(harness.MEASURED))
    return "\n\n".join(out) + "\n"


# --- the parent: one child process per thread setting, outputs combined --------------------


def run_child(argv: Sequence[str], threads: int, json_path: Path, measures: Path) -> str:
    """This script in a fresh process with ``threads`` BLAS threads; its markdown output."""
    cmd = [sys.executable, str(Path(__file__).resolve()), *argv, "--threads", str(threads), "--json", str(json_path)]
    cmd += ["--measures", str(measures)]
    env = {**os.environ, **harness.thread_env(threads)}
    if threads != 1:
        env.pop("XLA_FLAGS", None)
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"run_all.py: the {threads}-thread run failed (exit {done.returncode}); see its errors above")
    return done.stdout


def _without_only(argv: Sequence[str]) -> list[str]:
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--only":
            skip = True
        elif not a.startswith("--only="):
            out.append(a)
    return out


def run_parent(args: argparse.Namespace, argv: Sequence[str]) -> str:
    if args.tune_allocator:
        harness.tune_process_allocator()
    started, load_before = time.perf_counter(), harness.load_average()
    only = sections(args)
    outputs, results, measures = [], [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for threads in (1, 0):
            path = Path(tmp) / f"step-{threads}.json"
            here = only if threads == 1 else [s for s in only if s not in ONE_THREAD_ONLY]
            for k, section in enumerate(here):  # each in a process of its own
                part = ["--part"] if k else []
                numbers = Path(tmp) / f"measures-{threads}-{section}.json"
                outputs.append(run_child([*_without_only(argv), "--only", section, *part], threads, path, numbers))
                if threads == 1 and numbers.exists():
                    measures.update(json.loads(numbers.read_text()))
            if path.exists():
                label = "1 thread" if threads == 1 else "all threads"
                results += [{**r, "label": f"{r['dtype']}, {label}"} for r in json.loads(path.read_text())]
    head = [
        "## tinygrad_rnn benchmarks" + (" (--quick: smoke-test sizes, not for the record)" if args.quick else ""),
        "",
        *harness.machine_lines(),
        harness.source_state(),
        f"command: {' '.join([Path(sys.executable).name, 'benchmarks/run_all.py', *argv])}",
        f"{load_before} before, {harness.load_average()} after ({time.perf_counter() - started:.0f} s)",
        "",
    ]
    if results:
        head += ["### Summary: row-MNIST step, ratio to hand-written numpy BPTT (same process, interleaved)\n"]
        head += [step_table(results), ""]
    head += [targets_table(measures, args.quick), ""]
    return "\n".join(head) + "\n" + "\n".join(outputs)


def main(argv: Sequence[str] | None = None) -> None:
    """Print the report: this process's thread setting if ``--threads`` is given, else both."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parser().parse_args(argv)
    print(run_here(args) if args.threads is not None else run_parent(args, argv), end="", flush=True)


if __name__ == "__main__":
    main()
