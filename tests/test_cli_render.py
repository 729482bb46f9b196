"""``tinygrad-rnn render``: the three diagrams for each sequence mapping, and one-line errors
for bad arguments (exit 2) and for what the user must fix (exit 1)."""

from __future__ import annotations

import re
import shutil
import xml.etree.ElementTree as ET

import pytest

import viz
from tinygrad_rnn.app import cli

SVG = "{http://www.w3.org/2000/svg}svg"


def run(argv: list[str], capsys) -> tuple[int, str, str]:
    """``main(argv)``: (exit code, stdout, stderr); argparse errors exit via SystemExit."""
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize(
    ("mapping", "loss_steps", "outputs", "greyed"),
    [
        ("seq2seq", "last3", 5, 2),
        ("seq2vec", "last", 1, 0),
        ("vec2seq", "2,4", 5, 3),
        ("encdec", "all", 5, 0),
    ],
)
def test_render_writes_forward_backward_and_rolled_for_each_mapping(
    mapping, loss_steps, outputs, greyed, tmp_path, capsys
):
    code, out, err = run(
        ["render", "--mapping", mapping, "--steps", "5", "--loss-steps", loss_steps, "--out", str(tmp_path)], capsys
    )
    assert code == 0 and err == ""
    for view in ("forward", "backward", "rolled"):
        path = tmp_path / f"{view}.svg"
        assert ET.parse(path).getroot().tag == SVG
        assert str(path) in out
    backward = (tmp_path / "backward.svg").read_text()
    assert len(re.findall(r">o\(\d+\)<", backward)) == outputs
    assert backward.count(">‖∂L/∂o‖ = –<") == greyed  # outputs outside the cost get no gradient
    assert "t = 4" in backward and "‖∂L/∂U(4)‖" in backward
    assert f">{mapping}: backward pass" in backward  # the caption names the network


def test_render_elides_long_unrolls_with_max_steps(tmp_path, capsys):
    code, _, _ = run(["render", "--steps", "30", "--max-steps", "4", "--loss-steps", "last", "--out", str(tmp_path)],
                     capsys)  # fmt: skip
    assert code == 0
    forward = (tmp_path / "forward.svg").read_text()
    assert "26 steps" in forward and forward.count("t = ") == 4


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mapping", "seq2tree"], "invalid choice"),
        (["--steps", "0"], "positive integer"),
        (["--loss-steps", "lastx"], "lastK"),
        (["--loss-steps", "last0"], "lastK"),
        (["--loss-steps", "1,1"], "distinct"),
        (["--loss-steps", "last9"], "only 5 output"),
        (["--loss-steps", "2,7"], "step 7 is out of range"),
        (["--mapping", "seq2vec", "--loss-steps", "last3"], "only 1 output"),
        (["--max-steps", "1"], "at least 2"),
        (["--format", "gif"], "invalid choice"),
        ([], "--out"),
    ],
)
def test_bad_arguments_exit_2_with_one_line(argv, message, tmp_path, capsys):
    out_dir = [] if argv == [] else ["--out", str(tmp_path)]
    code, out, err = run(["render", *argv, *out_dir], capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err and err.startswith("tinygrad-rnn")
    assert not list(tmp_path.iterdir())


def test_png_without_graphviz_is_a_one_line_error_naming_the_fix(tmp_path, capsys, monkeypatch):
    real = shutil.which
    monkeypatch.setattr(shutil, "which", lambda name, *a, **k: None if name == "dot" else real(name, *a, **k))
    code, out, err = run(["render", "--format", "png", "--out", str(tmp_path)], capsys)
    assert code == 1 and out == ""
    assert err.count("\n") == 1 and "install Graphviz" in err and "Traceback" not in err


@pytest.mark.skipif(not viz.has_dot(), reason="the Graphviz dot program is not installed")
def test_png_and_pdf_with_graphviz(tmp_path, capsys):
    for fmt, magic in (("png", b"\x89PNG"), ("pdf", b"%PDF")):
        code, _, _ = run(["render", "--format", fmt, "--out", str(tmp_path / fmt)], capsys)
        assert code == 0
        assert all((tmp_path / fmt / f"{v}.{fmt}").read_bytes().startswith(magic) for v in viz.VIEWS)


def test_an_unwritable_output_directory_is_a_one_line_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, out, err = run(["render", "--out", str(blocker / "diagrams")], capsys)
    assert code == 1 and err.count("\n") == 1 and "cannot write" in err


def test_render_draws_the_full_style_with_each_parameter_once(tmp_path, capsys):
    code, _, err = run(["render", "--style", "full", "--steps", "4", "--out", str(tmp_path)], capsys)
    assert code == 0 and err == ""
    backward = (tmp_path / "backward.svg").read_text()
    for name in ("U", "W", "b", "V", "c"):  # one box each, with its total
        assert backward.count(f">‖∂L/∂{name}‖ = ") == 1
        assert len(re.findall(rf">‖∂L/∂{name}\(\d\)‖ = ", backward)) == 4  # and one share per step
