"""Where the row-MNIST step's time goes at user defaults: forward, backward, freeing the graph,
and the page faults of each, for the engine by hand and for numpy BPTT.

The step is ``row_mnist_step``'s (B = 128, T = 28, I = 28, H = 150, SGD). The engine's step is
split in three timed parts: recording the forward pass, ``backward()``, and the update with the
graph dropped (the last reference to the loss goes, and with it every node). numpy's step is
timed whole. Beside each time: the minor page faults per step (``getrusage``), that is, pages
the kernel had to hand out again because the C allocator had given them back.

Each setting runs in a fresh process: ``default`` is the process as a user's script leaves it;
``tuned`` first calls ``tinygrad_rnn.memory.tune_allocator()`` (glibc ``mallopt``: keep freed
memory instead of returning it). The difference between the two is what the allocator costs.
Run as a script it prints the table; ``run_all.py --only allocator`` runs it with one thread.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness
import numpy as np

DTYPES = ("float32", "float64")
SETTINGS = ("default", "tuned")


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(dtype: str, steps: int, warmup: int = 5) -> dict[str, float]:
    """Milliseconds and page faults per step of each part, in this process as it is."""
    import numpy_bptt
    import row_mnist_step as rms

    params, xs, labels = rms.make_problem(rms.B, rms.T, rms.I, rms.H, dtype=np.dtype(dtype).type)
    tensors = rms.engine_params(params)
    for _ in range(warmup):
        rms.engine_train_step(tensors, xs, labels, rms.LR)
    clock = time.perf_counter
    parts = dict.fromkeys(("forward", "backward", "update and free"), 0.0)
    faults = dict.fromkeys(parts, 0)
    for _ in range(steps):
        f0, t0 = _faults(), clock()
        loss = rms.engine_loss(tensors, xs, labels)
        f1, t1 = _faults(), clock()
        loss.backward()
        f2, t2 = _faults(), clock()
        for p in tensors.values():
            p.data -= rms.LR * p.grad
            p.grad = None
        del loss
        f3, t3 = _faults(), clock()
        times, counts = (t0, t1, t2, t3), (f0, f1, f2, f3)
        for k, name in enumerate(parts):
            parts[name] += times[k + 1] - times[k]
            faults[name] += counts[k + 1] - counts[k]
    own = rms.copy_params(params)
    for _ in range(warmup):
        numpy_bptt.train_step(own, xs, labels, rms.LR)
    f0, t0 = _faults(), clock()
    for _ in range(steps):
        numpy_bptt.train_step(own, xs, labels, rms.LR)
    out = {f"{k} ms": 1e3 * v / steps for k, v in parts.items()}
    out.update({f"{k} faults": faults[k] / steps for k in parts})
    out["numpy ms"] = 1e3 * (clock() - t0) / steps
    out["numpy faults"] = (_faults() - f0) / steps
    return out


def _child(setting: str, steps: int) -> dict[str, Any]:
    """``measure`` for both dtypes in a fresh process with one BLAS thread."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", setting, "--steps", str(steps)]
    env = {**harness.os.environ, **harness.thread_env(1)}
    done = subprocess.run(cmd, env=env, stdout=subprocess.PIPE, text=True, check=True)
    return json.loads(done.stdout)


def report(steps: int = 30) -> str:
    rows = []
    for setting in SETTINGS:
        for dtype, m in _child(setting, steps).items():
            engine = m["forward ms"] + m["backward ms"] + m["update and free ms"]
            rows.append([
                setting, dtype,
                *(f"{m[f'{k} ms']:.2f} ({m[f'{k} faults']:.0f})" for k in ("forward", "backward", "update and free")),
                f"{engine:.2f}", f"{m['numpy ms']:.2f} ({m['numpy faults']:.0f})", f"{engine / m['numpy ms']:.2f}",
            ])  # fmt: skip
    head = (
        f"#### Where the by-hand row-MNIST step's time goes (1 BLAS thread, {steps} steps, each setting in a fresh "
        "process): ms per step (minor page faults per step)\n"
    )
    headers = ["allocator", "dtype", "forward", "backward", "update and free graph", "engine ms", "numpy step",
               "ratio"]  # fmt: skip
    notes = (
        "\n\n`default` is the process as a user's script leaves it; `tuned` called `memory.tune_allocator()` first. "
        "Every page fault is a page glibc gave back to the kernel when the last step's graph was freed (its heap "
        "top trimmed, or an array above the mmap threshold unmapped) and that this step touches again."
    )
    return head + harness.table(headers, rows, numeric_from=2) + notes


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--child", choices=SETTINGS, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child is None:
        print(report(args.steps))
        return
    if args.child == "tuned":
        from tinygrad_rnn.memory import tune_allocator

        tune_allocator()
    print(json.dumps({dtype: measure(dtype, args.steps) for dtype in DTYPES}))


if __name__ == "__main__":
    main()
