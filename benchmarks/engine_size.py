"""The engine's size against issue 14's baseline, for the same features.

Issue 14 asks that the engine files together be "shorter or no longer than today's for the same
features". This counts, with ``ast`` and ``tokenize``, the lines of the engine files and their
code lines (no docstrings, comments or blank lines), at the commit before the issue's first
change (its files: tensor, autograd, ops, steps, anomaly; read with ``git show``) and in the
working tree (tensor, autograd, ops, modes, diagnose), and the code lines the features added
since make up: the functions and classes that are theirs alone, by name (``FEATURES``), and the
statements they put inside functions that were there before, or at a module's top level
(``FEATURE_STATEMENTS``: each named by its scope and the start of its first line; one that is no
longer found is an error, not a silent zero). The report gives the count both ways: less the
features' own definitions alone, and less their statements too.

Usage (from the repository root; ``--verbose`` lists each statement counted)::

    .venv/bin/python benchmarks/engine_size.py [--verbose]
"""

from __future__ import annotations

import ast
import functools
import io
import subprocess
import sys
import tokenize
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "9a36b14^"  # the tree when issue 14 was filed: its first change is 9a36b14
BASELINE_FILES = ("tensor", "autograd", "ops", "steps", "anomaly")
FILES = ("tensor", "autograd", "ops", "modes", "diagnose")

#: the definitions each feature added since the baseline consists of
FEATURES = {
    "values given up at a step block's end and computed again": [
        "Released", "Released.__init__", "Released.ndim", "Released.size", "_checksum", "_value_refs", "_Probe",
        "release", "_readers", "_Kept", "_Kept.__contains__", "restore", "Tensor.data", "_Recorded", "_put_back",
        "_release", "keep_values", "keep_values.__init__", "keep_values.__exit__",
    ],
    "gradients released once passed on, kept on request": [
        "retain", "_Pass", "_Pass.__init__", "_fingerprint", "_same", "pass_gradients", "Tensor.retain_grad",
        "Tensor.retains_grad",
    ],
    "the buffer pool's hooks": ["_pooled_like", "_matmul"],
    "is_anomaly_enabled": ["is_anomaly_enabled"],
}  # fmt: skip

#: the statements each feature put inside definitions that were there before, or at a module's top
#: level: (file, scope, how the statement's first line starts); a scope is a definition's name as
#: in ``definitions`` or "<module>"; a statement's lines include those of the block it opens
FEATURE_STATEMENTS = {
    "values given up at a step block's end and computed again": [
        ("autograd", "<module>", "import math"), ("autograd", "<module>", "import sys"),
        ("autograd", "<module>", "from .memory import"), ("autograd", "<module>", "_BITS ="),
        ("autograd", "<module>", "_probe ="), ("autograd", "<module>", "_probe._data ="),
        ("autograd", "<module>", "_VALUE_UNHELD ="), ("autograd", "<module>", "del _probe"),
        ("autograd", "<module>", "_KEPT ="), ("autograd", "_apply", "elif recorded is not None"),
        ("autograd", "backward", "if retain_grads:"), ("modes", "step.__enter__", "mine = _Recorded()"),
        ("modes", "step.__exit__", "if mine is not False:"),
    ],
    "gradients released once passed on, kept on request": [
        ("autograd", "<module>", "import weakref"), ("autograd", "<module>", "RETAINED:"),
        ("autograd", "<module>", "_LAST ="), ("autograd", "backward", "if retain_grads is not False"),
        ("autograd", "backward", "leaves = []"), ("autograd", "backward", "elif node.requires_grad:"),
        ("autograd", "backward", "last = _LAST"), ("autograd", "backward", "last.root, last.done"),
        ("autograd", "backward", "retained = RETAINED"), ("autograd", "backward", "if not retain_grads and"),
        ("autograd", "backward", "last.done = True"), ("autograd", "edge_gradients", "if grads is None:"),
    ],
    "the buffer pool's hooks": [
        ("ops", "<module>", "from .memory import"), ("ops", "<module>", "_POOLED ="),
        ("ops", "Add.forward", "out = _pooled_like"), ("ops", "Sub.forward", "out = _pooled_like"),
        ("ops", "Mul.forward", "out = _pooled_like"), ("ops", "Tanh.forward", "out = _pooled_like"),
    ],
}  # fmt: skip


_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@functools.cache  # report reads each file once for its definitions and once per statement listed
def code_lines(source: str) -> tuple[ast.Module, set[int]]:
    """The parsed module and the numbers of its lines that hold code (not a docstring, a comment
    or a blank line)."""
    tree = ast.parse(source)
    docs: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            value = first.value if isinstance(first, ast.Expr) else None
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                docs.update(range(first.lineno, (first.end_lineno or first.lineno) + 1))
    skip = {tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER}
    code: set[int] = set()
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type not in skip:
            code.update(n for n in range(tok.start[0], tok.end[0] + 1) if n not in docs)
    return tree, code


def definitions(source: str) -> dict[str, int]:
    """Code lines of each function and class (``Class.method`` for methods; a class's own lines
    leave out its methods')."""
    tree, code = code_lines(source)
    out: dict[str, int] = {}
    for name, node in _named(tree):
        lines = _span(node) & code
        if isinstance(node, ast.ClassDef):
            lines -= set().union(*(_span(inner) for inner in node.body if isinstance(inner, _DEFINITION)))
        out[name] = out.get(name, 0) + len(lines)  # a property and its setter: one
    return out


def _named(tree: ast.Module) -> Iterator[tuple[str, ast.AST]]:
    """Each function and class of a module with its name (``Class.method`` in a class), without
    recursion; functions nested in functions are part of theirs."""
    todo: list[tuple[ast.AST, str]] = [(tree, "")]
    while todo:
        parent, prefix = todo.pop()
        for node in ast.iter_child_nodes(parent):
            if isinstance(node, _DEFINITION):
                yield prefix + node.name, node
                if isinstance(node, ast.ClassDef):
                    todo.append((node, f"{prefix}{node.name}."))


def statement_lines(source: str, scope: str, start: str) -> set[int]:
    """The code lines of the one statement in ``scope`` (a definition's name as in ``definitions``,
    or "<module>" for the top level) whose first line, stripped, starts with ``start``: its own
    and those of the block it opens. Statements nested in ``if``, ``for``, ``try`` ... count, those
    of nested definitions do not. Raises unless exactly one matches."""
    tree, code = code_lines(source)
    text = source.splitlines()
    if scope == "<module>":
        body: list[ast.AST] = [n for n in tree.body if not isinstance(n, _DEFINITION)]
    else:
        body = next((list(node.body) for name, node in _named(tree) if name == scope), [])  # type: ignore[attr-defined]
    found: list[ast.stmt] = []
    while body:
        node = body.pop()
        if isinstance(node, (*_DEFINITION, ast.Lambda)):
            continue
        if isinstance(node, ast.stmt) and text[node.lineno - 1].strip().startswith(start):
            found.append(node)
        elif scope != "<module>":
            body.extend(ast.iter_child_nodes(node))
    if len(found) != 1:
        raise LookupError(f"engine_size: {len(found)} statements in {scope} start with {start!r}, not one")
    return _span(found[0]) & code


def _span(node: ast.AST) -> set[int]:
    decorators = getattr(node, "decorator_list", [])
    start = decorators[0].lineno if decorators else node.lineno  # type: ignore[attr-defined]
    return set(range(start, (node.end_lineno or start) + 1))  # type: ignore[attr-defined]


def _baseline(name: str) -> str:
    path = f"{BASELINE}:tinygrad_rnn/{name}.py"
    return subprocess.run(["git", "-C", str(ROOT), "show", path], capture_output=True, text=True, check=True).stdout


def report(verbose: bool = False) -> str:
    then = {name: _baseline(name) for name in BASELINE_FILES}
    now = {name: (ROOT / "tinygrad_rnn" / f"{name}.py").read_text() for name in FILES}
    sizes = {
        label: (sum(s.count("\n") for s in files.values()), sum(len(code_lines(s)[1]) for s in files.values()))
        for label, files in (("then", then), ("now", now))
    }
    defs: dict[str, int] = {}
    for source in now.values():
        defs.update(definitions(source))
    added = {feature: sum(defs[name] for name in names) for feature, names in FEATURES.items()}
    inside: dict[str, int] = {}
    listed = []
    for feature, statements in FEATURE_STATEMENTS.items():
        for file, scope, start in statements:
            n = len(statement_lines(now[file], scope, start))
            inside[feature] = inside.get(feature, 0) + n
            listed.append(f"    {feature}: {file}.py {scope}: {start} ... ({n})")
    then = sizes["then"][1]
    same = sizes["now"][1] - sum(added.values())
    same_too = same - sum(inside.values())
    lines = [
        f"engine files at {BASELINE} ({', '.join(BASELINE_FILES)}): {sizes['then'][0]:,} lines, {then:,} of code",
        f"engine files now ({', '.join(FILES)}): {sizes['now'][0]:,} lines, {sizes['now'][1]:,} of code",
        *(
            f"  added since: {feature}: {n + inside.get(feature, 0)} code lines ({n} in definitions of its own, "
            f"{inside.get(feature, 0)} in statements inside earlier ones or at the top level)"
            for feature, n in added.items()
        ),
        *(listed if verbose else []),
        f"now, less the features' own definitions: {same:,} code lines against {then:,} ({(same - then) / then:+.1%})",
        f"now, less their statements too: {same_too:,} code lines against {then:,} ({(same_too - then) / then:+.1%})",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report(verbose="--verbose" in sys.argv[1:]))
