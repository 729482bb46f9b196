"""Every Python code block of README.md runs as written (in a fresh namespace, in an empty
folder, since some write files): a code block in the README is a test."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_blocks():
    assert len(BLOCKS) >= 4


@pytest.mark.parametrize("index", range(len(BLOCKS)))
def test_readme_block_runs_as_written(index, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(compile(BLOCKS[index], f"README.md python block {index}", "exec"), {"__name__": "readme"})


COMMANDS = [
    line.split()[1:]
    for block in re.findall(r"```sh\n(.*?)```", README.read_text(encoding="utf-8"), re.S)
    for line in block.splitlines()
    if line.startswith("tinygrad-rnn ")
]


def test_the_readme_shows_the_commands():
    assert {argv[0] for argv in COMMANDS} == {"train", "render"}


@pytest.mark.parametrize("argv", COMMANDS, ids=[" ".join(a[:1] + a[-2:]) for a in COMMANDS])
def test_every_readme_command_is_valid_as_written(argv, tmp_path, monkeypatch):
    """Each ``tinygrad-rnn ...`` line of the README's shell blocks parses as it stands; the
    render command also runs, in an empty folder (training is run by test_training)."""
    from tinygrad_rnn.app import cli

    args = cli.build_parser().parse_args(argv)
    assert args.command == argv[0]
    if args.command == "render":
        monkeypatch.chdir(tmp_path)
        assert cli.main(argv) == 0
        assert sorted(p.name for p in (tmp_path / args.out).iterdir()) == [
            "backward.svg", "both.svg", "forward.svg", "rolled.svg"]  # fmt: skip


def test_every_picture_the_readme_shows_is_in_the_repository():
    text = README.read_text(encoding="utf-8")
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text) + re.findall(r"`(docs/figures/[^`]+\.svg)`", text)
    assert len(pictures) >= 8
    missing = [p for p in pictures if not (README.parent / p).is_file()]
    assert missing == []
