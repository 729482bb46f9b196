"""The training loop (training.fit) and the row-sequence classifier run by it: learning, metrics,
checkpoints, resume, signals, the CLI."""

from __future__ import annotations

import json
import math
import signal

import numpy as np
import pytest

from tinygrad_rnn import CheckpointError, ConfigError, TrainingInterrupted, optim
from tinygrad_rnn.app import cli, row_mnist, training
from tinygrad_rnn.app.row_mnist import TrainConfig, train
from tinygrad_rnn.checkpoint import load_checkpoint, save_checkpoint

SMALL = {"hidden": 24, "batch": 100, "n_test": 500}


def test_learns_on_real_digits(tmp_path):
    """Two epochs on the bundled MNIST digits: far above chance (0.1)."""
    epochs = train(TrainConfig(epochs=2), tmp_path)
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert epochs[1]["train_loss"] < epochs[0]["train_loss"] < 2.3
    assert epochs[1]["test_accuracy"] > 0.75
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert metrics["epochs"] == epochs
    assert metrics["config"]["hidden"] == 150
    assert all(e["samples_per_second"] > 0 for e in epochs)


def _losses(epochs):
    return [(e["epoch"], e["train_loss"], e["test_accuracy"]) for e in epochs]


def test_resume_after_an_epoch_equals_an_uninterrupted_run(tmp_path):
    full = train(TrainConfig(epochs=3, **SMALL), tmp_path / "full")
    train(TrainConfig(epochs=1, **SMALL), tmp_path / "split")
    resumed = train(TrainConfig(epochs=3, **SMALL), tmp_path / "split", resume=True)
    assert _losses(resumed) == _losses(full)


def test_ctrl_c_mid_epoch_saves_a_checkpoint_and_resume_gives_the_same_losses(tmp_path, monkeypatch):
    full = train(TrainConfig(epochs=2, **SMALL), tmp_path / "full")
    calls = []

    def interrupt_at_batch_7(self, progress):
        calls.append(progress.batch)
        if len(calls) == 7 + 40:  # epoch 2 has 40 batches of 100 after epoch 1's 40
            raise KeyboardInterrupt

    monkeypatch.setattr(training.ProgressBar, "update", interrupt_at_batch_7)
    with pytest.raises(TrainingInterrupted, match="checkpoint saved"):
        train(TrainConfig(epochs=2, **SMALL), tmp_path / "cut")
    monkeypatch.undo()
    resumed = train(TrainConfig(epochs=2, **SMALL), tmp_path / "cut", resume=True)
    assert _losses(resumed) == _losses(full)


def test_ctrl_c_during_an_optimizer_step_waits_for_the_batch_to_be_counted(tmp_path, monkeypatch):
    """The signal lands after Adam has updated the parameters but before the batch is counted:
    the checkpoint must not hold the update with the old count (resume would apply it twice)."""
    full = train(TrainConfig(epochs=2, **SMALL), tmp_path / "full")
    step, calls = optim.Adam.step, []

    def step_then_ctrl_c(self):
        step(self)
        calls.append(1)
        if len(calls) == 45 + 7:  # epoch 1: 4,500 training digits in 45 batches
            signal.raise_signal(signal.SIGINT)  # as the terminal sends it; runs the handler now

    monkeypatch.setattr(optim.Adam, "step", step_then_ctrl_c)
    with pytest.raises(TrainingInterrupted, match="after 700 samples"):
        train(TrainConfig(epochs=2, **SMALL), tmp_path / "cut")
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # put back
    resumed = train(TrainConfig(epochs=2, **SMALL), tmp_path / "cut", resume=True)
    assert _losses(resumed) == _losses(full)


def test_a_second_ctrl_c_interrupts_at_once():
    with training._InterruptBetweenBatches() as interrupts:
        signal.raise_signal(signal.SIGINT)
        assert interrupts.pending
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_a_signal_after_the_last_batchs_check_still_stops_the_run():
    """A SIGTERM between the last batch's check and the end of the epoch's block was caught
    and then forgotten when the handlers were put back: the run went on to the end and exited
    0 (the fault test once saw exit codes [-9, 0])."""
    with pytest.raises(KeyboardInterrupt) as stopped:
        with training._InterruptBetweenBatches() as interrupts:
            interrupts.check()  # the last batch's check
            signal.raise_signal(signal.SIGTERM)
    assert stopped.value.args == (signal.SIGTERM,)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back first


def test_clip_limits_every_batch_gradient_and_changes_the_run(tmp_path, monkeypatch):
    real, seen = training.clip_grad_norm, []

    def recording(params, max_norm):
        before = real(params, max_norm)
        after = math.sqrt(sum(float((p.grad**2).sum()) for p in params))
        seen.append((max_norm, before, after))
        return before

    monkeypatch.setattr(training, "clip_grad_norm", recording)
    clipped = train(TrainConfig(epochs=1, clip=0.05, **SMALL), tmp_path / "clipped")
    assert len(seen) == 45  # 4,500 training digits in batches of 100
    assert all(m == 0.05 and after <= 0.05 * (1 + 1e-5) for m, _, after in seen)
    assert sum(before > 0.05 for _, before, _ in seen) > 30  # the clip really bit
    free = train(TrainConfig(epochs=1, **SMALL), tmp_path / "free")
    assert len(seen) == 45  # no clip: never called
    assert _losses(clipped) != _losses(free)


def test_resume_with_different_settings_is_refused(tmp_path):
    train(TrainConfig(epochs=1, **SMALL), tmp_path)
    with pytest.raises(CheckpointError, match="same settings"):
        train(TrainConfig(epochs=2, **{**SMALL, "hidden": 25}), tmp_path, resume=True)


def test_corrupt_checkpoint_is_a_clear_error(tmp_path):
    train(TrainConfig(epochs=1, **SMALL), tmp_path)
    path = tmp_path / "checkpoint.npz"
    path.write_bytes(path.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="corrupt"):
        train(TrainConfig(epochs=2, **SMALL), tmp_path, resume=True)


def test_a_crash_while_writing_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    config = TrainConfig(epochs=1, **SMALL)
    model = row_mnist.make_model(config)
    path = tmp_path / "checkpoint.npz"
    save_checkpoint(path, model, meta={"n": 1})
    good = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr("tinygrad_rnn.files.os.replace", crash)
    with pytest.raises(OSError, match="disk full"):
        save_checkpoint(path, model, meta={"n": 2})
    assert path.read_bytes() == good
    assert [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]  # no temporary file left
    monkeypatch.undo()
    assert load_checkpoint(path, row_mnist.make_model(config)) == {"n": 1}


def test_checkpoint_round_trip_restores_model_and_optimizer(tmp_path):
    config = TrainConfig(**SMALL)
    x_tr, y_tr, _, _ = row_mnist.load_split(config)
    model = row_mnist.make_model(config)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    progress = training.Progress(epochs=[])
    order = training.epoch_batches(len(x_tr), 100, 0, 1)[:3]
    training.train_epoch(model, opt, row_mnist.loss, (x_tr, y_tr), order, progress)
    save_checkpoint(tmp_path / "c.npz", model, opt, {"k": [1, 2]})
    model2 = row_mnist.make_model(TrainConfig(**{**SMALL, "seed": 1}))
    opt2 = optim.Adam(model2.parameters(), lr=1e-3)
    assert load_checkpoint(tmp_path / "c.npz", model2, opt2) == {"k": [1, 2]}
    for (n1, p1), (n2, p2) in zip(model.named_parameters(), model2.named_parameters(), strict=True):
        assert n1 == n2
        np.testing.assert_array_equal(p1.data, p2.data)
    assert opt2.state["step"] == opt.state["step"] == [3] * 5
    for key in ("m", "v"):  # every moment of every parameter, bit for bit
        for mine, saved in zip(opt2.state[key], opt.state[key], strict=True):
            assert mine.dtype == saved.dtype
            np.testing.assert_array_equal(mine, saved)
    assert opt2.hyperparams == opt.hyperparams


def _run_cli(argv, capsys):
    code = cli.main(argv)
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.mark.parametrize(
    "argv",
    [
        ["train", "--epochs", "0", "--out", "x"],
        ["train", "--lr", "-1", "--out", "x"],
        ["train", "--hidden", "many", "--out", "x"],
        ["train"],
        ["bogus"],
        [],
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "error:" in err and "Traceback" not in err


def test_cli_user_errors_are_one_line_with_exit_1(tmp_path, capsys):
    code, _, err = _run_cli(["train", "--data", str(tmp_path / "none"), "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and err.count("\n") == 1 and "not a directory" in err
    (tmp_path / "o").mkdir(exist_ok=True)
    (tmp_path / "o" / "checkpoint.npz").write_bytes(b"not a checkpoint")
    code, _, err = _run_cli(["train", "--resume", "--out", str(tmp_path / "o")], capsys)
    assert code == 1 and err.count("\n") == 1 and "corrupt" in err
    blocker = tmp_path / "file"
    blocker.write_text("")
    code, _, err = _run_cli(["train", "--out", str(blocker / "sub")], capsys)
    assert code == 1 and "cannot create output directory" in err


def test_cli_trains_and_writes_metrics(tmp_path, capsys):
    code, out, err = _run_cli(["train", "--hidden", "16", "--epochs", "1", "--out", str(tmp_path)], capsys)
    assert code == 0
    assert "test accuracy" in out and "epoch 1/1" in err
    assert json.loads((tmp_path / "metrics.json").read_text())["epochs"][0]["epoch"] == 1
    assert (tmp_path / "checkpoint.npz").exists()


def test_cli_resume_with_fewer_epochs_than_done_says_there_is_nothing_to_train(tmp_path, capsys):
    args = ["train", "--hidden", "16", "--out", str(tmp_path)]
    assert _run_cli([*args, "--epochs", "2"], capsys)[0] == 0
    code, out, err = _run_cli([*args, "--epochs", "1", "--resume"], capsys)
    assert code == 0 and out == ""
    assert "nothing to train" in err and "already holds 2 epochs and --epochs is 1" in err


def test_cli_detect_anomaly_reports_the_op_and_step(tmp_path, capsys, monkeypatch):
    x_tr, y_tr, x_te, y_te = row_mnist.load_split(TrainConfig(**SMALL))
    x_tr = x_tr.copy()
    x_tr[:, 5, 3] = np.nan  # every image's row 5: the RNN's step 5

    monkeypatch.setattr(row_mnist, "load_split", lambda config: (x_tr, y_tr, x_te, y_te))
    argv = ["train", "--hidden", "8", "--epochs", "1", "--out", str(tmp_path), "--detect-anomaly"]
    code, _, err = _run_cli(argv, capsys)
    assert code == 1
    assert err.count("\n") == 1
    assert "tanh(affine) at step 5 produced nan" in err and "input already containing nan" in err


# --- faults a scheduler or a crash leaves behind (issue 15) ------------------------------------


def test_sigterm_during_a_step_checkpoints_like_ctrl_c_and_the_cli_exits_143(tmp_path, monkeypatch, capsys):
    """SIGTERM (what SLURM, docker and Kubernetes send) waits for the batch, saves, and exits
    128 + 15; the resumed run equals an uninterrupted one."""
    full = train(TrainConfig(epochs=2, **SMALL), tmp_path / "full")
    step, calls = optim.Adam.step, []

    def step_then_sigterm(self):
        step(self)
        calls.append(1)
        if len(calls) == 45 + 7:
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(optim.Adam, "step", step_then_sigterm)
    argv = ["train", "--out", str(tmp_path / "cut"), "--epochs", "2", "--hidden", "24", "--batch", "100"]
    monkeypatch.setattr(row_mnist.TrainConfig, "__init__", _with_small_test_set(row_mnist.TrainConfig.__init__))
    assert cli.main(argv) == 143
    assert "stopped by SIGTERM in epoch 2 after 700 samples; checkpoint saved" in capsys.readouterr().err
    monkeypatch.undo()
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # put back
    resumed = train(TrainConfig(epochs=2, **SMALL), tmp_path / "cut", resume=True)
    assert _losses(resumed) == _losses(full)


def _with_small_test_set(init):
    def small(self, *args, **kwargs):
        init(self, *args, **{**kwargs, "n_test": 500})

    return small


def test_resume_before_any_checkpoint_starts_from_scratch_and_says_so(tmp_path, capsys):
    fresh = train(TrainConfig(epochs=1, **SMALL), tmp_path / "fresh")
    resumed = train(TrainConfig(epochs=1, **SMALL), tmp_path / "never-saved", resume=True)
    err = capsys.readouterr().err
    assert f"no checkpoint in {tmp_path / 'never-saved'} yet: starting from scratch" in err
    assert _losses(resumed) == _losses(fresh)


def test_temp_files_of_a_killed_write_are_removed_and_files_honour_the_umask(tmp_path):
    import os

    out = tmp_path / "run"
    out.mkdir()
    stale = [out / ".checkpoint.npz.k1ll3d_x.tmp", out / ".metrics.json.x9y8z7w6.tmp"]  # as mkstemp names them
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    keep = out / ".notes.tmp"  # not one of ours: a name with no random part
    keep.write_text("mine")
    also = out / ".notes.backup.tmp"  # the user's too, though it has as many dots as ours
    also.write_text("mine")
    old = os.umask(0o027)
    try:
        train(TrainConfig(epochs=1, **SMALL), out)
    finally:
        os.umask(old)
    assert not any(p.exists() for p in stale) and keep.exists()
    names = sorted(p.name for p in out.iterdir())
    assert names == [".notes.backup.tmp", ".notes.tmp", "checkpoint.npz", "metrics.json"]
    for name in ("checkpoint.npz", "metrics.json"):
        assert (out / name).stat().st_mode & 0o777 == 0o640


# --- the loop on its own: any model, any loss (issue 15 item 7) --------------------------------


def _adding_run(tmp_path=None, epochs=3, **kwargs):
    """fit on a regression task with an RNN of its own: nothing row-MNIST about it."""
    from tinygrad_rnn import data, nn
    from tinygrad_rnn import functional as F

    xs, ys = data.adding_problem(256, 12, seed=3)
    inputs = xs.transpose(1, 0, 2)  # fit batches along the first axis: (B, T, 2)
    model = nn.SeqToVec(2, 8, 1, seed=3)

    def mse(model, x, y):
        return F.mse(model(x.transpose(1, 0, 2)), y)

    def evaluate(model):
        return {"val_mse": float(((model(xs[:, :64]).data - ys[:64]) ** 2).mean())}

    history = training.fit(
        model, optim.Adam(model.parameters(), lr=1e-2), mse, (inputs, ys), epochs=epochs, batch_size=32, seed=1,
        evaluate=evaluate, out=tmp_path, **kwargs,
    )  # fmt: skip
    return model, history


def test_fit_trains_any_model_and_loss_and_writes_nothing_without_out(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    _, history = _adding_run(epochs=3)
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert list(history[0]) == ["epoch", "train_loss", "val_mse", "seconds", "samples_per_second"]
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert list(tmp_path.iterdir()) == []
    err = capsys.readouterr().err
    assert "epoch 3/3" in err and "val mse" in err


def test_fit_with_out_resumes_exactly_and_refuses_other_loop_settings(tmp_path):
    _, full = _adding_run(tmp_path / "full", epochs=3)
    _adding_run(tmp_path / "cut", epochs=1)
    _, resumed = _adding_run(tmp_path / "cut", epochs=3, resume=True)
    assert [(h["train_loss"], h["val_mse"]) for h in resumed] == [(h["train_loss"], h["val_mse"]) for h in full]
    metrics = json.loads((tmp_path / "cut" / "metrics.json").read_text())
    assert metrics == {"config": {}, "epochs": resumed}
    with pytest.raises(CheckpointError, match=r"same settings.*") as info:
        _adding_run(tmp_path / "cut", epochs=4, resume=True, clip=1.0)
    assert "'clip': None" in str(info.value)


def test_fit_without_out_lets_ctrl_c_through_after_the_batch(monkeypatch):
    calls = []

    def ctrl_c_at_batch_3(self, progress):
        calls.append(progress.batch)
        if progress.batch == 3:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(training.ProgressBar, "update", ctrl_c_at_batch_3)
    with pytest.raises(KeyboardInterrupt):
        _adding_run(epochs=2)
    assert calls == [1, 2, 3]  # the batch that saw the signal finished; no further batch began
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epochs": 0}, "fit: epochs must be an integer of at least 1, got 0"),
        ({"batch_size": 2.5}, "fit: batch_size must be an integer of at least 1, got 2.5"),
        ({"seed": -1}, "fit: seed must be an integer of at least 0, got -1"),
        ({"data": np.zeros((4, 2))}, "fit: data must be a tuple of arrays .* got ndarray"),
        ({"data": (np.zeros((4, 2)), np.zeros(3))}, r"fit: the arrays in data must hold the same number .* \[4, 3\]"),
    ],
)
def test_fit_refuses_arguments_that_have_no_meaning(kwargs, message):
    from tinygrad_rnn import nn

    model = nn.Linear(2, 1)
    args = {"data": (np.zeros((4, 2)), np.zeros((4, 1))), "epochs": 1, "batch_size": 2, **kwargs}
    with pytest.raises(ConfigError, match=message):
        training.fit(model, optim.SGD(model.parameters(), lr=0.1), lambda m, x, y: m(x).sum(), **args)


def test_the_library_never_imports_the_application_layer():
    """tinygrad_rnn.app builds on the library; nothing in the library imports it (or viz)."""
    import subprocess
    import sys
    from pathlib import Path

    import tinygrad_rnn

    root = Path(tinygrad_rnn.__file__).parent
    names = sorted(
        "tinygrad_rnn." + ".".join(p.relative_to(root).with_suffix("").parts).removesuffix(".__init__")
        for p in root.rglob("*.py")
        if p.relative_to(root).parts[0] not in ("app", "testing.py")
    )
    assert "tinygrad_rnn.analysis" in names and "tinygrad_rnn.data.fetch" in names
    code = (
        f"import sys, importlib\nfor name in {names!r}:\n    importlib.import_module(name.removesuffix('.'))\n"
        "print(sorted(n for n in sys.modules if n.startswith(('tinygrad_rnn.app', 'viz'))))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_numpy_numbers_and_tuples_in_a_run_are_saved_and_resumed(tmp_path):
    """Found by a review: numpy scalars from evaluate() or clip crashed the checkpoint, and a
    tuple in config failed to match itself after the JSON round trip."""
    from tinygrad_rnn import nn

    def run(epochs, resume=False):
        model = nn.Linear(2, 1, seed=0)
        data = (np.ones((8, 2)), np.ones((8, 1)))
        return training.fit(model, optim.SGD(model.parameters(), lr=0.1), lambda m, x, y: ((m(x) - y) ** 2).mean(),
                            data, epochs=epochs, batch_size=4, clip=np.float32(1.0), out=tmp_path, resume=resume,
                            evaluate=lambda m: {"acc": np.float32(0.5), "n": np.int64(3)},
                            config={"sizes": (3, 5)})  # fmt: skip

    first = run(1)
    assert first[0]["acc"] == 0.5 and isinstance(first[0]["n"], float)
    assert [e["epoch"] for e in run(2, resume=True)] == [1, 2]
