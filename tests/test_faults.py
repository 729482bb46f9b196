"""A fault test of the training command: a real ``tinygrad-rnn train`` process is killed again and
again at random moments (SIGKILL, which nothing can catch, and SIGTERM, which a scheduler sends,
in turn), restarted with ``--resume`` each time, until it finishes. The finished run must equal
one that was never interrupted, every checkpoint on disk must stay readable, and nothing may be
left behind. Bounded for CI: a tiny model on 200 random 28x28 "digits", two dozen kills."""

from __future__ import annotations

import json
import os
import random
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tinygrad_rnn.checkpoint import read_meta

# about 12 s uninterrupted: twice what 24 kills at random moments take from it, so that on a fast
# machine too the run outlasts them (at 300 epochs it once finished after 10 of them)
ARGS = ["--hidden", "8", "--epochs", "600", "--batch", "20", "--seed", "3"]
KILLS = 24


def _idx(array: np.ndarray) -> bytes:
    array = np.asarray(array, dtype=np.uint8)
    header = struct.pack(">I", 0x0800 | array.ndim) + b"".join(struct.pack(">I", n) for n in array.shape)
    return header + array.tobytes()


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("idx")
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 200), ("t10k", 40)):
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(_idx(rng.integers(0, 256, (n, 28, 28))))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(_idx(rng.integers(0, 10, n)))
    return folder


def _start(digits: Path, out: Path, resume: bool) -> subprocess.Popen:
    argv = [sys.executable, "-m", "tinygrad_rnn.app.cli", "train", "--data", str(digits), "--out", str(out), *ARGS]
    return subprocess.Popen(argv + (["--resume"] if resume else []), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})  # fmt: skip


def _results(out: Path) -> list[tuple[int, float, float]]:
    epochs = json.loads((out / "metrics.json").read_text())["epochs"]
    return [(e["epoch"], e["train_loss"], e["test_accuracy"]) for e in epochs]


def test_killed_again_and_again_the_run_ends_as_if_never_interrupted(digits: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    assert _start(digits, reference, resume=False).wait(timeout=120) == 0
    out, rng = tmp_path / "killed", random.Random(0)
    kills = {signal.SIGKILL: 0, signal.SIGTERM: 0}
    codes = []
    for trial in range(KILLS + 50):
        process = _start(digits, out, resume=trial > 0)
        if sum(kills.values()) < KILLS:
            time.sleep(rng.uniform(0.05, 0.9))
            sig = (signal.SIGKILL, signal.SIGTERM)[trial % 2]  # as many of each, at random moments
            process.send_signal(sig)
            kills[sig] += 1
        code = process.wait(timeout=120)
        _, err = process.communicate()
        codes.append(code)
        if code not in (0, -signal.SIGKILL, 128 + signal.SIGTERM, -signal.SIGTERM):
            pytest.fail(f"trial {trial}: exit code {code}: {err}")
        if code == 128 + signal.SIGTERM:
            assert "stopped by SIGTERM" in err and "checkpoint saved" in err
        if (out / "checkpoint.npz").exists():  # whatever the moment of the kill, a whole checkpoint
            assert read_meta(out / "checkpoint.npz")["progress"]["epoch"] >= 1
        if code == 0:
            break
    print(f"exit codes of the {len(codes)} runs: {codes}")  # shown with pytest -s
    assert codes[-1] == 0, f"never finished: {codes}"
    assert kills[signal.SIGKILL] > 5 and kills[signal.SIGTERM] > 5
    assert 128 + signal.SIGTERM in codes  # some SIGTERMs landed during training and saved
    assert _results(out) == _results(reference)
    assert sorted(p.name for p in out.iterdir()) == ["checkpoint.npz", "metrics.json"]  # no temp files left
