"""Modules and their parameters: ``Module`` (named parameters, state dicts), ``Parameter``,
the initialisers, and ``Linear``, the output layer o = c + h V.

Initialisation follows Keras's defaults (which the row-MNIST reference used): weights that read
an input Glorot-uniform in +-sqrt(6 / (fan_in + fan_out)), recurrent weights random orthogonal
(all singular values 1, so h(t-1) W neither shrinks nor blows up the state at the start of
training), biases zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import ops
from ..autograd import _apply
from ..errors import ConfigError, DTypeError, IndexOutOfRangeError, ShapeError, TinygradRNNError
from ..seeding import Seed, make_rng
from ..tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad: what a Module registers as a parameter."""

    __slots__ = ()

    def __init__(self, data: Any, name: str | None = None, dtype: Any = None) -> None:
        super().__init__(data, requires_grad=True, name=name, dtype=dtype)


def glorot_uniform(
    shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype: Any
) -> np.ndarray:
    """Uniform in +-sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio, 2010): keeps activations'
    and gradients' variance roughly constant from layer to layer."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


def orthogonal(shape: tuple[int, int], rng: np.random.Generator, dtype: Any) -> np.ndarray:
    """A random matrix with orthonormal rows or columns, whichever are fewer (Saxe et al., 2014):
    the QR factor of a Gaussian matrix, with signs fixed so that it is uniformly distributed."""
    rows, cols = shape
    q, r = np.linalg.qr(rng.standard_normal((max(rows, cols), min(rows, cols))))
    q *= np.sign(np.diag(r))
    return (q if rows >= cols else q.T).astype(dtype)


def _check_size(who: str, **sizes: Any) -> None:
    for key, n in sizes.items():
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ConfigError(f"{who}: {key} must be a positive integer, got {n!r}")


def _float_dtype(who: str, dtype: Any) -> np.dtype:
    dt = np.dtype(dtype)
    if dt.kind != "f":
        raise DTypeError(f"{who}: dtype must be a floating-point type such as np.float32 or np.float64, got {dt}")
    return dt


def in_dtype(who: str, x: Tensor, dtype: np.dtype, what: str) -> Tensor:
    """The one dtype rule of the modules: a module computes in its own dtype. Data (arrays,
    lists, integer Tensors) is converted to it; a Tensor of another floating dtype is refused,
    because converting it would silently change its precision or cut its gradient."""
    if x.dtype == dtype:
        return x
    if x.dtype.kind == "f":
        raise DTypeError(
            f"{who}: {what} is a {x.dtype} Tensor but the module computes in {dtype}; convert it "
            f"(Tensor({what}.data.astype(np.{dtype}))) or build the module with dtype=np.{x.dtype}."
        )
    return Tensor(x.data.astype(dtype), name=x.name)


def _as_tensor(who: str, x: Any, features: int, dtype: np.dtype, what: str) -> Tensor:
    """``x`` as a Tensor of ``dtype`` (see ``in_dtype``) with ``features`` in its last axis."""
    if not isinstance(x, Tensor):
        data = np.asarray(x)
        if data.dtype.kind not in "iuf":
            raise DTypeError(f"{who}: {what} must be numeric, got dtype {data.dtype}.")
        x = Tensor(data.astype(dtype, copy=False))
    x = in_dtype(who, x, dtype, what)
    if x.data.ndim < 1 or x.shape[-1] != features:
        raise ShapeError(f"{who}: {what} has shape {x.shape}, expected (..., {features}).")
    return x


def told_by(who: str, run: Callable[[], Any]) -> Any:
    """``run()``, with its errors told in the name of ``who``, the module the user built or
    called (a SeqToSeq's bad ``lengths`` is the SeqToSeq's error, not its loop's)."""
    try:
        return run()
    except TinygradRNNError as e:
        _, sep, rest = str(e).partition(": ")
        told = type(e)(f"{who}: {rest}" if sep else str(e))
        told.__dict__.update(e.__dict__)  # what it carries (a GradcheckError's node, say)
        if isinstance(e, OSError):
            told.errno = e.errno
        raise told from None


def built_by(who: str, make: Callable[[], Any]) -> Any:
    """``make()``, with its errors told in the name of ``who``, the module the user is building
    (an ``RNN``'s bad option is the RNN's error, not its cell's); an option the part does not
    take is a ConfigError."""
    try:
        return told_by(who, make)
    except TypeError as e:  # an unexpected keyword
        if isinstance(e, TinygradRNNError):
            raise
        raise ConfigError(f"{who}: {e} (see help({who}) for the options it takes)") from None


class Module:
    """Base class: parameters are the attributes holding leaf tensors with requires_grad,
    found in attribute order, including those of sub-modules (named ``sub.name``).

    A module built from others may name some of them in ``_delegates``: an attribute it does
    not have itself is then looked up on those, in order (``model.W`` is ``model.rnn.cell.W``).
    """

    _delegates: tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        if not name.startswith("__"):
            own = self.__dict__
            for key in type(self)._delegates:
                if key in own:
                    try:
                        return getattr(own[key], name)
                    except AttributeError:
                        pass
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def named_parameters(self) -> Iterator[tuple[str, Tensor]]:
        """(name, parameter) pairs in attribute order; a tensor shared by two attributes once.

        A sub-module's parameters are named ``sub.name``, except those of the parts listed in
        ``_delegates``, which the module presents as its own: a ``SeqToSeq``'s are U, W, b, V,
        c, not rnn.cell.U ... (unless two parts have a parameter of the same name)."""
        seen: set[int] = set()
        used: set[str] = set()
        stack: list[tuple[str, str, Module]] = [("", "", self)]  # (short prefix, full prefix, module)
        while stack:
            short, full, module = stack.pop()
            subs = []
            for key, value in vars(module).items():
                if isinstance(value, Tensor) and value.requires_grad and value.is_leaf:
                    if id(value) not in seen:
                        seen.add(id(value))
                        name = short + key if short + key not in used else full + key
                        used.add(name)
                        yield name, value
                elif isinstance(value, Module):
                    inner = short if key in type(module)._delegates else f"{short}{key}."
                    subs.append((inner, f"{full}{key}.", value))
            stack.extend(reversed(subs))

    def parameters(self) -> Iterator[Tensor]:
        for _, p in self.named_parameters():
            yield p

    def zero_grad(self) -> None:
        """Reset every parameter's ``.grad`` to None."""
        for p in self.parameters():
            p.grad = None

    def state_dict(self) -> dict[str, np.ndarray]:
        """A copy of every parameter's values, by name."""
        return {name: p.data.copy() for name, p in self.named_parameters()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Copy values into the parameters in place (their arrays and dtypes are kept).

        Every name must match and every shape agree; nothing is changed unless all do.
        """
        params = dict(self.named_parameters())
        missing, unexpected = sorted(set(params) - set(state)), sorted(set(state) - set(params))
        if missing or unexpected:
            raise ShapeError(
                f"{type(self).__name__}.load_state_dict: missing parameters {missing}, unexpected {unexpected}; "
                "the state must come from a module of the same kind and sizes."
            )
        for name, p in params.items():
            shape, dtype = np.shape(state[name]), np.asarray(state[name]).dtype
            if dtype.kind not in "biuf":
                raise DTypeError(
                    f"{type(self).__name__}.load_state_dict: parameter {name!r} is {p.dtype} but the state holds "
                    f"{dtype} values; pass real numbers."
                )
            if shape != p.shape:
                raise ShapeError(
                    f"{type(self).__name__}.load_state_dict: parameter {name!r} has shape {p.shape} but the "
                    f"state holds {shape}; build the module with the sizes the state was saved with."
                )
        for name, p in params.items():
            np.copyto(p.data, np.asarray(state[name]), casting="same_kind")

    def __repr__(self) -> str:
        params = ", ".join(f"{n}: {p.shape}" for n, p in self.named_parameters())
        return f"{type(self).__name__}({params})"


class Linear(Module):
    """o = c + h V: the output layer (V has shape (in_features, out_features), c zeros)."""

    def __init__(self, in_features: int, out_features: int, *, dtype: Any = np.float64, seed: Seed = None) -> None:
        _check_size("Linear", in_features=in_features, out_features=out_features)
        dt = _float_dtype("Linear", dtype)
        rng = make_rng(seed, "Linear")
        self.in_features, self.out_features = in_features, out_features
        self.V = Parameter(glorot_uniform((in_features, out_features), in_features, out_features, rng, dt), "V")
        self.c = Parameter(np.zeros(out_features, dtype=dt), "c")

    def forward(self, h: Any) -> Tensor:
        if not isinstance(h, Tensor) or h.shape[-1:] != (self.in_features,) or h.dtype != self.V.dtype:
            h = _as_tensor(
                f"Linear({self.in_features}, {self.out_features})", h, self.in_features, self.V.dtype, "input"
            )
        o = _apply(ops.Affine, self.c, h, self.V)  # o = c + h V, one node
        o.name = "o"
        return o


class Embedding(Module):
    """A table of learned vectors, one per symbol: ``emb(ids)`` gives E[ids], shape (*ids.shape,
    embedding_dim), for integer ids in [0, num_embeddings) (e.g. a (T, B) batch of characters
    becomes the (T, B, dim) input of an RNN). E starts standard normal, as PyTorch's. The
    gradient of E adds up over every place a symbol appears."""

    def __init__(self, num_embeddings: int, embedding_dim: int, *, dtype: Any = np.float64, seed: Seed = None) -> None:
        _check_size("Embedding", num_embeddings=num_embeddings, embedding_dim=embedding_dim)
        dt = _float_dtype("Embedding", dtype)
        rng = make_rng(seed, "Embedding")
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.E = Parameter(rng.standard_normal((num_embeddings, embedding_dim)).astype(dt), "E")

    def forward(self, ids: Any) -> Tensor:
        who = f"Embedding({self.num_embeddings}, {self.embedding_dim})"
        data = np.asarray(ids.data if isinstance(ids, Tensor) else ids)
        if data.dtype.kind not in "iu":
            raise DTypeError(f"{who}: ids must be integers (symbol indices), got dtype {data.dtype}.")
        bad = np.flatnonzero((data < 0) | (data >= self.num_embeddings))
        if bad.size:
            where = tuple(int(i) for i in np.unravel_index(bad[0], data.shape))
            raise IndexOutOfRangeError(
                f"{who}: id {int(data.flat[bad[0]])} at position {where} is out of range; ids must be in "
                f"[0, {self.num_embeddings})."
            )
        e = self.E[data]
        e.name = "e"
        return e
