"""The char-RNN at batch 1: one training iteration of ``examples/char_rnn.py`` on the engine
(nn.RNN + nn.Linear, ``F.sequence_loss``, ``backward()``, value clipping, Adagrad) against
min-char-rnn's hand-written numpy loop (the same example's ``NumpyMinCharRNN``): the Zen of
Python, 45 characters, 100 hidden units, chunks of 25, from the same initial weights.

At batch 1 every array is a vector, so the time is mostly per-call cost, numpy's and the
engine's: this is the case where the engine's own Python work per node shows most. The two
loops alternate chunk by chunk, so a change of load hits both. Before timing, the first
iteration's losses of the two are checked to agree to a relative 1e-12. Below the table, the
engine iteration's own profile (cProfile, the functions with the most time of their own) says
where the rest goes.
"""

from __future__ import annotations

import cProfile
import pstats
import sys
import time
from itertools import islice
from pathlib import Path

import numpy as np
from harness import measured, table

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import char_rnn  # noqa: E402

from tinygrad_rnn import data as datasets  # noqa: E402


def _setup(hidden: int, seq_length: int, iterations: int) -> tuple[dict, list]:
    text = datasets.zen_of_python()
    chars, index = datasets.char_vocab(text)
    ids = np.array([index[ch] for ch in text])
    init = char_rnn.initial_weights(hidden, len(chars), np.random.default_rng(0))
    models = {"engine": char_rnn.EngineCharRNN(init, 0.1), "numpy": char_rnn.NumpyMinCharRNN(init, 0.1)}
    return models, list(islice(char_rnn.chunks(ids, seq_length), iterations))


def _profile_rows(model: char_rnn.EngineCharRNN, chunks: list, top: int) -> list[list[str]]:
    profiler = cProfile.Profile()
    profiler.enable()
    for chunk in chunks:
        model.step(*chunk)
    profiler.disable()
    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in stats.values())
    rows = []
    for (file, line, name), (_, calls, own, _cum, _) in sorted(stats.items(), key=lambda kv: -kv[1][2])[:top]:
        where = f"{Path(file).name}:{line} {name}" if line else name
        rows.append([f"`{where}`", f"{calls / len(chunks):.0f}", f"{own / total:.0%}"])
    return rows


def report(iterations: int = 300, warmup: int = 20, hidden: int = 100, seq_length: int = 25, top: int = 10) -> str:
    models, chunks = _setup(hidden, seq_length, warmup + iterations)
    first = {name: model.step(*chunks[0]) for name, model in models.items()}
    if not np.isclose(first["engine"], first["numpy"], rtol=1e-12):
        raise AssertionError(f"char_rnn_step: first losses differ: engine {first['engine']}, numpy {first['numpy']}")
    for chunk in chunks[1:warmup]:
        for model in models.values():
            model.step(*chunk)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for chunk in chunks[warmup:]:
        for name, model in models.items():
            started = time.perf_counter()
            model.step(*chunk)
            seconds[name].append(time.perf_counter() - started)
    ms = {name: 1e3 * float(np.median(s)) for name, s in seconds.items()}
    measured("char-RNN", ms["engine"] / ms["numpy"])
    rows = [["numpy loop (min-char-rnn, hand-written)", f"{ms['numpy']:.2f}", "1.00"],
            ["engine (nn.RNN, nn.Linear, sequence_loss, Adagrad)", f"{ms['engine']:.2f}",
             f"{ms['engine'] / ms['numpy']:.2f}"]]  # fmt: skip
    profile = _profile_rows(models["engine"], chunks[warmup : warmup + min(iterations, 100)], top)
    return (
        f"#### Char-RNN at batch 1 (Zen of Python, vocabulary 45, H={hidden}, chunks of {seq_length}, Adagrad): "
        f"median ms per iteration over {iterations} interleaved iterations\n\n"
        + table(["implementation", "ms per iteration", "ratio"], rows)
        + f"\n\nFirst losses checked to agree to 1e-12 (engine {first['engine']:.12f}, numpy {first['numpy']:.12f}). "
        "Where the engine's iteration spends its time (cProfile, own time; the profiler's cost inflates "
        "per-call work):\n\n"
        + table(["function", "calls per iteration", "share of the iteration"], profile)
    )


if __name__ == "__main__":
    print(report())
