"""The example scripts run end to end with tiny settings and print what they promise.

Each example's ``main(argv)`` is called in-process (numpy is imported once) with settings small
enough for CI; the assertions check the printed lines and the numbers ``main`` returns. The
full-size runs and their results are described in each script's docstring.
"""

from __future__ import annotations

import importlib.util
import math
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import svgread

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
SCRIPTS = [
    "adding_problem", "bptt_by_hand", "bptt_ledger", "char_rnn", "encoder_decoder", "row_mnist", "teacher_forcing",
    "vanishing_gradients",
]  # fmt: skip


def load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"examples_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SCRIPTS)
def test_runs_as_a_script_and_documents_its_options(name):
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / f"{name}.py"), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "usage:" in done.stdout and "--seed" in done.stdout
    assert load(name).__doc__.count("Run: python examples/") == 1


def test_row_mnist_learns_and_prints_loss_accuracy_and_time(capsys):
    args = ["--epochs", "2", "--hidden", "32", "--train-size", "1500", "--batch", "50"]
    history = load("row_mnist").main(args)  # 60 Adam steps: 0.32-0.42 accuracy over seeds 0-5
    out = capsys.readouterr().out
    assert "1,500 training and 1,000 test digits" in out
    lines = re.findall(r"epoch (\d+)/2 \[#{30}\] 1500/1500  loss ([\d.]+)  \d+ samples/s  test accuracy ([\d.]+)", out)
    assert [int(e) for e, *_ in lines] == [1, 2]
    assert [round(h["train_loss"], 4) for h in history] == [float(loss) for _, loss, _ in lines]
    assert [round(h["test_accuracy"], 4) for h in history] == [float(acc) for *_, acc in lines]
    assert history[1]["train_loss"] < history[0]["train_loss"] < math.log(10) + 0.1
    assert history[1]["test_accuracy"] > 0.2  # chance is 0.1
    assert all(h["seconds"] > 0 for h in history)


def test_char_rnn_engine_follows_the_hand_written_numpy_min_char_rnn(capsys):
    result = load("char_rnn").main(
        ["--iterations", "40", "--print-every", "20", "--hidden", "16", "--sample-length", "30", "--numpy-reference"]
    )
    out = capsys.readouterr().out
    history = result["history"]
    assert sorted(history) == [0, 20, 39]
    first = history[0]["engine"]
    assert first == pytest.approx(25 * math.log(45), rel=0.01)  # a uniform guess over 45 characters
    for losses in history.values():  # the same initial weights and data: the same training run
        assert losses["engine"] == pytest.approx(losses["numpy"], rel=1e-9)
    assert set(result["seconds_per_iteration"]) == {"engine", "numpy"}
    assert re.search(r"time per iteration: engine [\d.]+ ms, numpy [\d.]+ ms", out)
    assert "engine / numpy:" in out
    assert len(result["sample"]) == 30 and result["sample"] in out


def test_adding_problem_reports_and_stops_at_the_target(capsys):
    adding = load("adding_problem")
    result = adding.main(["--steps", "40", "--eval-every", "20", "--T", "10", "--hidden", "16", "--target", "0.001"])
    out = capsys.readouterr().out
    assert [r["step"] for r in result["reports"]] == [20, 40]
    assert all(0 < r["test_mse"] < 1 for r in result["reports"])
    assert "not solved in 40 steps" in out and not result["solved"]

    result = adding.main(["--steps", "40", "--eval-every", "20", "--T", "10", "--hidden", "16", "--target", "1.0"])
    out = capsys.readouterr().out
    assert re.search(r"solved: test MSE [\d.]+ < 1 after 20 steps", out)
    assert result["solved"] and [r["step"] for r in result["reports"]] == [20]


def test_teacher_forcing_scores_both_models_both_ways(capsys):
    results = load("teacher_forcing").main(["--steps", "60", "--T", "12", "--hidden", "8", "--batch", "16"])
    out = capsys.readouterr().out
    modes = ("teacher forcing", "closed loop")
    assert set(results) == {(a, b) for a in modes for b in modes}
    assert all(np.isfinite(v) and v > 0 for v in results.values())
    assert results["teacher forcing", "teacher forcing"] < 0.5  # better than predicting 0
    for trained, scored in results:
        assert re.search(rf"{trained} +{scored} +[\d.]+", out)
    assert "exposure bias" in out


def test_encoder_decoder_prints_closed_loop_accuracy_per_position(capsys):
    results = load("encoder_decoder").main(["--steps", "60", "--max-length", "3", "--hidden", "16"])
    out = capsys.readouterr().out
    assert sorted(results) == [2, 3]
    for length, (per_position, whole) in results.items():
        assert per_position.shape == (length + 1,)  # the symbols, then <end>
        assert 0 <= whole <= per_position.min() <= per_position.max() <= 1
        assert f"L={length}  positions 1..{length} then <end>:" in out
    losses = [float(v) for v in re.findall(r"cross-entropy per output ([\d.]+)", out)]
    assert len(losses) == 5 and losses[-1] < losses[0]


def test_bptt_by_hand_gradients_match(capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["bptt_by_hand.py", "--steps", "4"])
    load("bptt_by_hand").main()
    assert "BPTT gradients match central finite differences" in capsys.readouterr().out


def test_bptt_ledger_writes_its_six_pictures_and_reads_them(tmp_path, capsys):
    out = tmp_path / "ledger"
    result = load("bptt_ledger").main(["--out", str(out), "--epochs", "1", "--digits", "300", "--T", "30", "--k", "5"])
    printed = capsys.readouterr().out
    names = ["mnist_ledger", "mnist_jacobians", "adding_ledger", "adding_jacobians", "truncation", "overlay"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.svg" for n in names)
    assert all(f"{out / n}.svg" in printed for n in names)
    assert "adding problem, T = 30: lags 0-9 give" in printed and "BPTT(5, 5) drops" in printed
    assert result["adding"]["to_first"] < 1  # an untrained tanh RNN: the gradient shrinks over 29 steps
    drops = result["truncation"]
    assert drops["V"] < 1e-12 and drops["c"] < 1e-12 and drops["W"] > 1e-3  # the head has no recurrence to cut
    assert 'data-marked="1"' in (out / "truncation.svg").read_text()
    overlay = svgread.parse((out / "overlay.svg").read_text())
    texts = [t.text for t in overlay.texts()]
    assert any(re.fullmatch(r"L\(\d+\): \d\.\de[+-]\d\d", t) for t in texts)  # W's shares split by loss term
    assert any(t.startswith("‖∂h(29)/∂h(") for t in texts)  # the Jacobian overlay
    assert any(shape.dashed and shape.stroke == "#08519c" for shape in overlay.nodes.values()) == (
        result["overlay"]["died"] > 0)  # fmt: skip
    assert any("scaled ×" in t for t in texts) and result["overlay"]["norm"] > 1


def test_vanishing_gradients_writes_both_networks_pictures(tmp_path, capsys):
    out = tmp_path / "v"
    result = load("vanishing_gradients").main(["--T", "30", "--steps", "5", "--hidden", "8", "--out", str(out)])
    printed = capsys.readouterr().out
    names = ["grad_norms_T30", "loss_T30", "rnn_backward_T30", "lstm_backward_T30"]
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.svg" for n in names)
    assert "T =  30  tanh RNN" in printed and "T =  30  LSTM" in printed
    ratio = {kind: r["first"] / r["last"] for kind, r in result[30].items()}
    assert ratio["lstm"] > ratio["rnn"]  # more of the gradient reaches the first step through the LSTM
    svg = (out / "grad_norms_T30.svg").read_text()
    assert "tanh RNN: 30 steps" in svg and "LSTM: 30 steps" in svg and "stroke-dasharray" in svg
