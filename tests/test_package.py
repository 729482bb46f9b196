"""The package as a user imports it: ``import tinygrad_rnn as tr`` reaches every submodule."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tinygrad_rnn as tr


@pytest.mark.parametrize("name", ["nn", "functional", "optim", "data", "bptt", "gradcheck", "testing"])
def test_every_submodule_is_an_attribute(name):
    module = getattr(tr, name)
    assert module.__name__ == f"tinygrad_rnn.{name}" and name in dir(tr)


def test_the_public_names_are_there():
    assert callable(tr.gradcheck.gradcheck) and tr.nn.RNN and tr.Function and tr.ConfigError and tr.testing.operands
    with pytest.raises(AttributeError, match="module 'tinygrad_rnn' has no attribute 'nope'"):
        tr.nope  # noqa: B018


def test_testing_without_hypothesis_names_the_extra():
    code = (
        "import sys; sys.modules['hypothesis'] = None\n"
        "import tinygrad_rnn as tr\n"
        "try:\n    tr.testing\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "tinygrad_rnn.testing needs hypothesis, which is not installed" in out
    assert "pip install 'tinygrad-rnn[test]'" in out
