"""The ``tinygrad-rnn`` command.

    tinygrad-rnn train --data mnist5k --hidden 150 --epochs 10 --batch 150 --lr 0.001 --seed 42 --out DIR
    tinygrad-rnn render --mapping seq2seq --steps 5 --loss-steps last3 --out DIR

User errors (bad arguments, unreadable data, an unwritable directory, a checkpoint that does not
fit) print one line and exit non-zero, never a traceback: 2 for bad arguments, 1 for the rest,
130 for Ctrl-C and 143 for SIGTERM (each after saving a checkpoint at the end of the batch).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from typing import TYPE_CHECKING

from ..errors import TinygradRNNError, TrainingInterrupted
from ..modes import detect_anomaly

if TYPE_CHECKING:
    from ..tensor import Tensor


def _int_at_least(low: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= ``low``, or a usage error saying it expected ``what``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    return parse


_positive_int = _int_at_least(1, "a positive integer")
_seed = _int_at_least(0, "a non-negative integer seed")


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def _out_dir(text: str) -> str:
    """--out: a directory to create or reuse, not empty and not an existing file."""
    from pathlib import Path

    if not text.strip():
        raise argparse.ArgumentTypeError("an empty path; name a directory, e.g. --out runs/demo")
    if Path(text).exists() and not Path(text).is_dir():
        raise argparse.ArgumentTypeError(f"{text} is a file, not a directory; choose another path")
    return text


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (and exit code 2), not the whole usage text."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="tinygrad-rnn", description="Train recurrent networks and draw backpropagation through time.")
    from .. import __version__

    parser.add_argument("--version", action="version", version=f"tinygrad-rnn {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    train = commands.add_parser(
        "train",
        help="train the row-sequence classifier (each image read row by row)",
        description="Train an RNN that reads each 28x28 digit as 28 steps of 28 pixels (SeqToVec, Adam).",
    )
    train.add_argument("--data", default="mnist5k", help="'mnist5k' (bundled, 4,000/1,000 split) or a directory "
                       "with the MNIST IDX files (default: mnist5k)")  # fmt: skip
    train.add_argument("--hidden", type=_positive_int, default=150, help="recurrent units (default 150)")
    train.add_argument("--epochs", type=_positive_int, default=10, help="passes over the training set (default 10)")
    train.add_argument("--batch", type=_positive_int, default=150, help="mini-batch size (default 150)")
    train.add_argument("--lr", type=_positive_float, default=1e-3, help="Adam learning rate (default 0.001)")
    train.add_argument("--seed", type=_seed, default=42, help="seed of the split, the init and the shuffles")
    train.add_argument("--dtype", choices=["float32", "float64"], default="float32", help="default float32")
    train.add_argument("--clip", type=_positive_float, default=None, help="clip the gradient norm to this value")
    train.add_argument(
        "--detect-anomaly",
        action="store_true",
        help="check every op's output and every gradient for NaN/inf and stop at the first (slower)",
    )
    train.add_argument("--out", type=_out_dir, required=True, help="directory for metrics.json and checkpoint.npz")
    train.add_argument("--resume", action="store_true", help="continue from DIR/checkpoint.npz")

    render = commands.add_parser(
        "render",
        help="draw backpropagation through time for a small RNN: forward, backward and rolled views",
        description="Unroll a small RNN of the given mapping on random inputs, put the chosen steps' outputs in "
        "the cost, backpropagate, and write forward, backward and rolled diagrams of the recorded graph.",
    )
    render.add_argument("--mapping", choices=MAPPINGS, default="seq2seq", help="sequence mapping (default seq2seq)")
    render.add_argument("--steps", type=_positive_int, default=5, help="time steps T (default 5)")
    render.add_argument("--loss-steps", type=_loss_steps, default="all", metavar="SPEC",
                        help="outputs in the cost: all, last, lastK (e.g. last3) or a list like 2,3,4 "
                        "(default all)")  # fmt: skip
    render.add_argument("--max-steps", type=_positive_int, default=12, help="longer unrolls show the first and "
                        "last steps with the middle elided (default 12, at least 2)")  # fmt: skip
    render.add_argument("--format", choices=["svg", "png", "pdf"], default="svg", help="png and pdf need Graphviz "
                        "dot; svg renders without it (default svg)")  # fmt: skip
    render.add_argument("--style", choices=["textbook", "full"], default="textbook", help="textbook: parameters as "
                        "labels on every step; full: each parameter drawn once (default textbook)")  # fmt: skip
    render.add_argument("--hidden", type=_positive_int, default=3, help="hidden units (default 3)")
    render.add_argument("--seed", type=_seed, default=0, help="seed of the weights and inputs (default 0)")
    render.add_argument("--out", type=_out_dir, required=True, help="directory for the diagrams (one file per view)")
    return parser


MAPPINGS = ("seq2seq", "seq2vec", "vec2seq", "encdec")


def _loss_steps(text: str) -> str | int | list[int]:
    """``all``, ``last``, ``lastK`` (the last K outputs, as an int K) or a comma list of steps."""
    text = text.strip().lower()
    if text in ("all", "last"):
        return text
    try:
        if text.startswith("last"):
            k = int(text[4:])
            if k < 1:
                raise ValueError
            return k
        steps = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected all, last, lastK (e.g. last3) or a comma list of steps (e.g. 2,3,4), got {text!r}"
        ) from None
    if any(s < 0 for s in steps) or len(set(steps)) != len(steps):
        raise argparse.ArgumentTypeError(f"steps must be distinct and non-negative, got {text!r}")
    return steps


def _cost_steps(spec: str | int | list[int], n_outputs: int) -> list[int] | None:
    """The output indices ``spec`` puts in the cost (None: all), or ValueError with the reason."""
    if spec == "all":
        return None
    if spec == "last":
        return [n_outputs - 1]
    if isinstance(spec, int):
        if spec > n_outputs:
            raise ValueError(f"--loss-steps last{spec}: the model has only {n_outputs} output(s)")
        return list(range(n_outputs - spec, n_outputs))
    bad = [s for s in spec if s >= n_outputs]  # type: ignore[union-attr]
    if bad:
        raise ValueError(
            f"--loss-steps: step {bad[0]} is out of range for {n_outputs} output(s) (0 to {n_outputs - 1})"
        )
    return list(spec)  # type: ignore[arg-type]


def _train(args: argparse.Namespace) -> int:
    from ..memory import tune_allocator
    from .row_mnist import TrainConfig, train

    config = TrainConfig(
        data=args.data,
        hidden=args.hidden,
        epochs=args.epochs,
        batch=args.batch,
        lr=args.lr,
        seed=args.seed,
        dtype=args.dtype,
        clip=args.clip,
    )
    tune_allocator()  # this process is ours: keep glibc from returning the graph's memory after every batch
    with detect_anomaly() if args.detect_anomaly else nullcontext():
        epochs = train(config, args.out, resume=args.resume)
    if epochs and epochs[-1]["epoch"] > args.epochs:
        print(
            f"tinygrad-rnn: nothing to train: {args.out} already holds {epochs[-1]['epoch']} epochs and --epochs is "
            f"{args.epochs}; pass a larger --epochs to continue",
            file=sys.stderr,
        )
    elif epochs:
        last = epochs[-1]
        print(
            f"epoch {last['epoch']}: train loss {last['train_loss']:.4f}, test accuracy "
            f"{last['test_accuracy']:.4f}; metrics and checkpoint in {args.out}"
        )
    return 0


def unrolled_example(
    mapping: str, steps: int, cost_steps: list[int] | None, hidden: int = 3, seed: int = 0
) -> list[Tensor]:
    """A small RNN of ``mapping`` run on random inputs, its loss (cross-entropy on the outputs
    ``cost_steps``, all if None) backpropagated: returns ``[loss, *outputs]``, what to draw."""
    import numpy as np

    from .. import functional as F
    from .. import nn

    n_in, n_out = 2, 3
    rng = np.random.default_rng(seed)
    sizes = {"input_size": n_in, "hidden_size": hidden, "output_size": n_out, "seed": seed}
    xs = rng.normal(size=(steps, 1, n_in))
    if mapping == "seq2seq":
        outputs = nn.SeqToSeq(**sizes)(xs)
    elif mapping == "seq2vec":
        outputs = [nn.SeqToVec(**sizes)(xs)]
    elif mapping == "vec2seq":
        outputs = nn.VecToSeq(**sizes, steps=steps)(xs[0])
    else:
        targets = np.eye(n_out)[rng.integers(0, n_out, size=(steps, 1))]  # teacher forcing: one-hot y(s)
        outputs = nn.EncoderDecoder(**sizes)(xs, targets=targets)
    labels = rng.integers(0, n_out, size=(len(outputs), 1))
    loss = F.sequence_loss(outputs, labels, steps=cost_steps)
    loss.backward()
    return [loss, *outputs]


def _render(args: argparse.Namespace) -> int:
    from pathlib import Path

    import viz

    roots = unrolled_example(args.mapping, args.steps, args.cost_steps, args.hidden, args.seed)
    out = Path(args.out)
    paths = []
    for view in viz.VIEWS:
        diagram = viz.draw(roots, view, max_steps=args.max_steps, style=args.style, title=args.mapping)
        paths.append(viz.render(diagram, out / f"{view}.{args.format}"))
    print(f"{args.mapping}, {args.steps} steps, cost on {_describe_cost(args.cost_steps, len(roots) - 1)}:")
    for path in paths:
        print(f"  {path}")
    return 0


def _describe_cost(cost_steps: list[int] | None, n_outputs: int) -> str:
    chosen = range(n_outputs) if cost_steps is None else cost_steps
    return "output" + ("s " if len(chosen) > 1 else " ") + ", ".join(str(s) for s in chosen)


def _check_render(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Arguments that only make sense together; a mismatch is a usage error (exit 2)."""
    if args.max_steps < 2:
        parser.error(f"argument --max-steps: must be at least 2 (the first and the last step), got {args.max_steps}")
    n_outputs = 1 if args.mapping == "seq2vec" else args.steps
    try:
        args.cost_steps = _cost_steps(args.loss_steps, n_outputs)
    except ValueError as e:
        parser.error(str(e))


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "render":
        _check_render(parser, args)
    try:
        return {"train": _train, "render": _render}[args.command](args)
    except TrainingInterrupted as e:
        print(f"tinygrad-rnn: {e}", file=sys.stderr)
        return 128 + e.signum  # 130 after Ctrl-C, 143 after SIGTERM
    except MemoryError:
        what = f"--hidden {args.hidden} and --batch {args.batch}" if args.command == "train" else "--steps and --hidden"
        print(f"tinygrad-rnn: error: not enough memory for {what}; choose smaller values", file=sys.stderr)
        return 1
    except (TinygradRNNError, OSError, ValueError) as e:
        print(f"tinygrad-rnn: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("tinygrad-rnn: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
