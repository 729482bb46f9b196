"""Where an implementation's time goes: cProfile of repeated row-MNIST steps (or of the
long unroll's forward + backward), top lines by own time.

RESULTS.md quotes these profiles for every target the engine misses. BLAS runs on one thread
(set before numpy is imported) and the allocator is tuned, as in ``run_all.py``.

Usage (from the repository root)::

    .venv/bin/python benchmarks/profile_step.py [--impl engine_nn] [--dtype float64] [--steps 100]
        [--T 28] [--B 128] [--H 150] [--what step|grads|epoch] [--top 20] [--sort tottime]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
from collections.abc import Callable, Sequence

import harness

if __name__ == "__main__":
    os.environ.update(harness.thread_env(1))

import numpy as np  # noqa: E402
import row_mnist_step as rms  # noqa: E402


def profile(fn: Callable[[int], object], calls: int, top: int, sort: str) -> str:
    """cProfile's table for ``fn(1), ..., fn(calls)``, after an untimed ``fn(0)``."""
    fn(0)
    prof = cProfile.Profile()
    prof.enable()
    for i in range(1, calls + 1):
        fn(i)
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).strip_dirs().sort_stats(sort).print_stats(top)
    return out.getvalue()


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--impl", choices=sorted(rms.BUILDERS), default="engine_nn")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float64")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--B", type=int, default=rms.B)
    p.add_argument("--T", type=int, default=rms.T)
    p.add_argument("--I", type=int, default=rms.I)
    p.add_argument("--H", type=int, default=rms.H)
    p.add_argument("--classes", type=int, default=rms.N_CLASSES)
    p.add_argument(
        "--what",
        choices=("step", "grads", "epoch"),
        default="step",
        help="an SGD step, forward+backward only, or --steps epochs of examples/row_mnist.py's training loop "
        "(--impl engine_nn or numpy; sizes from the example)",
    )
    p.add_argument("--top", type=int, default=20)
    p.add_argument("--sort", default="tottime", help="a pstats sort key: tottime, cumulative, ncalls, ...")
    args = p.parse_args(argv)

    harness.tune_process_allocator()
    if args.what == "epoch":
        import training_throughput

        runs = training_throughput.setup(args.dtype)
        fn = runs.numpy_epoch if args.impl == "numpy" else runs.engine_epoch
        print(f"row-MNIST training epoch ({args.impl}), {args.dtype}, {args.steps} epochs, 1 BLAS thread")
        print(profile(fn, args.steps, args.top, args.sort))
        return
    dtype = np.dtype(args.dtype).type
    params, xs, labels = rms.make_problem(args.B, args.T, args.I, args.H, args.classes, dtype)
    impl = rms.BUILDERS[args.impl](params, xs, labels, rms.LR)
    rms.check(impl, params, xs, labels)
    print(
        f"{impl.name}, {args.dtype}, B={args.B} T={args.T} I={args.I} H={args.H}, {args.steps} x {args.what}, "
        f"1 BLAS thread"
    )
    call = impl.step if args.what == "step" else impl.loss_and_grads
    print(profile(lambda _: call(), args.steps, args.top, args.sort))


if __name__ == "__main__":
    main()
