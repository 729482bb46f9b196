"""The package as a user imports it: ``import tinygrad_rnn as tr`` reaches every submodule."""

from __future__ import annotations

import subprocess
import sys

import pytest

import tinygrad_rnn as tr

SUBMODULES = ["nn", "functional", "optim", "data", "bptt", "analysis", "gradcheck", "testing", "interop"]


@pytest.mark.parametrize("name", SUBMODULES)
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


def test_every_exception_class_lives_in_errors_and_is_exported():
    """One module holds them all (viz's too), each exported from the package."""
    import importlib
    import inspect
    import pkgutil

    import viz

    found = set()
    for package in (tr, viz):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name == "tinygrad_rnn.testing" or info.name.startswith("tinygrad_rnn.app"):
                continue  # testing needs hypothesis; the application layer is checked by its own tests
            module = importlib.import_module(info.name)
            for _, obj in inspect.getmembers(module, inspect.isclass):
                if issubclass(obj, BaseException) and obj.__module__.startswith(("tinygrad_rnn", "viz")):
                    found.add(obj)
    assert found, "no exception classes found"
    assert {cls.__module__ for cls in found} == {"tinygrad_rnn.errors"}
    assert {cls.__name__ for cls in found} <= set(tr.__all__)
    assert {"DataError", "CheckpointError", "OptimizerError", "VizError", "TrainingInterrupted"} <= set(tr.__all__)
    assert viz.VizError is tr.VizError
