"""The engine's size against issue 14's baseline, for the same features.

Issue 14 asks that the engine files together be "shorter or no longer than today's for the same
features". This counts, with ``ast`` and ``tokenize``, the lines of the engine files and their
code lines (no docstrings, comments or blank lines), at the commit before the issue's first
change (its files: tensor, autograd, ops, steps, anomaly; read with ``git show``) and in the
working tree (tensor, autograd, ops, modes, diagnose), and the code lines of the functions and
classes that the features added since make up, by name.

Usage (from the repository root)::

    .venv/bin/python benchmarks/engine_size.py
"""

from __future__ import annotations

import ast
import io
import subprocess
import tokenize
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
    todo: list[tuple[ast.AST, str]] = [(tree, "")]
    while todo:
        parent, prefix = todo.pop()
        for node in ast.iter_child_nodes(parent):
            if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                continue
            lines = _span(node) & code
            if isinstance(node, ast.ClassDef):
                for inner in node.body:
                    if isinstance(inner, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                        lines -= _span(inner)
                todo.append((node, f"{prefix}{node.name}."))
            out[prefix + node.name] = len(lines)
    return out


def _span(node: ast.AST) -> set[int]:
    decorators = getattr(node, "decorator_list", [])
    start = decorators[0].lineno if decorators else node.lineno  # type: ignore[attr-defined]
    return set(range(start, (node.end_lineno or start) + 1))  # type: ignore[attr-defined]


def _baseline(name: str) -> str:
    path = f"{BASELINE}:tinygrad_rnn/{name}.py"
    return subprocess.run(["git", "-C", str(ROOT), "show", path], capture_output=True, text=True, check=True).stdout


def report() -> str:
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
    same = sizes["now"][1] - sum(added.values())
    lines = [
        f"engine files at {BASELINE} ({', '.join(BASELINE_FILES)}): {sizes['then'][0]:,} lines, "
        f"{sizes['then'][1]:,} of code",
        f"engine files now ({', '.join(FILES)}): {sizes['now'][0]:,} lines, {sizes['now'][1]:,} of code",
        *(f"  added since: {feature}: {n} code lines" for feature, n in added.items()),
        f"now, less what was added: {same:,} code lines against {sizes['then'][1]:,} "
        f"({(same - sizes['then'][1]) / sizes['then'][1]:+.0%})",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(report())
