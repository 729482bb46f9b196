"""The engine: recording ops as they run, and the backward pass over what was recorded.

Read it in this order:

- ``_apply``: every op on tensors runs here. It calls the op's ``forward`` (ops.py) on the
  arrays and, if recording, links the result to its inputs with the op and what its backward
  rule saved (``ctx``): that chain is the recorded graph. An RNN unrolled by a Python loop
  reuses the same parameter tensors at every step, so the graph holds ONE node per parameter
  with an edge into every step.
- ``walk``: the graph in topological order (inputs before the tensors made from them), found
  with an explicit stack, so a 100,000-step unroll needs no recursion. ``viz`` walks with it too.
- ``release`` and ``restore``: at the end of a ``step`` block, the values recorded in it that
  no backward rule saved and only the graph refers to are given up (``Released`` stands in:
  shape and dtype); reading one (``Tensor.data``) runs its op forward again.
- ``accumulate``: every gradient that reaches a tensor is *added* to what it already has, after
  ``unbroadcast`` has reduced it to the tensor's shape. A parameter used at every time step
  therefore ends up with the sum over steps: backpropagation through time with no special case.
- ``backward``: walks the graph backwards, each op's rule (``_rule``) sending its
  gradient to its inputs. It releases an intermediate tensor's gradient as soon as its rule has
  passed it on (``retain_grads=True`` or ``t.retain_grad()`` keep it): the pass then holds only
  the gradients still on their way, not one per node. The root keeps its gradient (the seed),
  so ``pass_gradients`` can compute every intermediate one again, and ``viz`` draws them from it.

Grad mode, the step tag and anomaly checks are read from modes.py; what to say when an op
fails is in diagnose.py.
"""

from __future__ import annotations

import math
import sys
import weakref
from collections.abc import Container
from typing import TYPE_CHECKING, Any

import numpy as np

from . import diagnose, ops
from .errors import BackwardError, TinygradRNNError
from .memory import MIN_BYTES, UNHELD, give_back, is_pooled, refs_at
from .modes import ANOMALY, MODE

if TYPE_CHECKING:
    from .tensor import Tensor
else:
    Tensor = None  # tensor.py, the array facade built on this module, sets it to its class

_new = object.__new__


def _apply(op: type[ops.Op], *parents: Tensor, attrs: tuple = ()) -> Tensor:
    """Run ``op`` forward on the parents' arrays and, if recording, link the result to them."""
    try:  # one or two arrays and no attrs, the common case, passed directly: 0.2 µs less per op (benchmarks/tricks.py)
        if attrs or len(parents) > 2:
            out, ctx = op.forward(*[p.data for p in parents], *attrs)
        elif len(parents) == 2:
            out, ctx = op.forward(parents[0].data, parents[1].data)
        else:
            out, ctx = op.forward(parents[0].data)
    except (ValueError, IndexError, TypeError) as e:
        if isinstance(e, TinygradRNNError) or hasattr(op, "function"):  # ours already, or a user's forward's
            raise
        raise diagnose.op_error(op, parents, attrs, e) from None
    if type(out) is not np.ndarray:
        out = np.asarray(out)
    grad_enabled, step, anomaly, attrs_table, recorded = MODE.get()
    if anomaly:
        diagnose.check_forward(op, parents, out, step)
    # Not Tensor(out): the data is an op's output and needs no checks; 0.3 µs less per op (benchmarks/tricks.py)
    t = _new(Tensor)
    t._data = out
    t.grad = t.name = None
    t.step = step
    if grad_enabled:
        for p in parents:
            if p.requires_grad:
                t.requires_grad = True
                t._op = op
                t._parents = parents
                t._ctx = ctx
                if attrs_table is not None:
                    attrs_table[id(t)] = (attrs, t)
                elif recorded is not None and recorded is not False:
                    # what its step block may give up (``release``): a value of 16 kB or more; of an
                    # op with non-tensor arguments, which ``restore`` cannot run again, the inputs it reads
                    if attrs:
                        recorded.append(parents)
                    elif out.nbytes >= MIN_BYTES:  # the pool's threshold: a smaller one is not worth the checks
                        recorded.append(t)
                return t
    t.requires_grad, t._op, t._parents, t._ctx = False, None, (), None
    return t


def walk(*roots: Tensor, stop: Container[Tensor] = frozenset()) -> list[Tensor]:
    """Every tensor the ``roots`` were computed from, in topological order, the roots included.

    Iterative depth-first search from each root in turn; parents are visited in argument
    order, so the same program always gives the same order (diagrams and tests rely on that).
    A tensor reached from several roots is listed once. Tensors in ``stop`` are listed but
    their own inputs are not followed (the part of the graph between ``stop`` and the roots).
    """
    order: list[Tensor] = []
    seen: set[Tensor] = set()  # tensors hash by identity
    for root in roots:
        if root in seen:
            continue
        seen.add(root)
        # the nodes being expanded, from the root down, and the parents each one has left to visit
        path, todo = [root], [iter(() if stop and root in stop else root._parents)]
        while todo:
            for parent in todo[-1]:
                if parent not in seen:  # go into it; the rest of this node's parents wait
                    seen.add(parent)
                    path.append(parent)
                    todo.append(iter(() if stop and parent in stop else parent._parents))
                    break
            else:  # every parent is in ``order``: so is the node now
                todo.pop()
                order.append(path.pop())
    return order


class Released:
    """What a tensor holds in place of a value its step block gave up (``release``): the value's
    shape and dtype, which backward needs, and a checksum of its bits, which the value computed
    again (``restore``) must match (the same computation gives the same bits)."""

    __slots__ = ("shape", "dtype", "checksum")

    def __init__(self, value: np.ndarray) -> None:
        self.shape, self.dtype, self.checksum = value.shape, value.dtype, _checksum(value)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return math.prod(self.shape)


_BITS = {n: np.dtype(f"i{n}") for n in (1, 2, 4, 8)}


def _checksum(value: np.ndarray) -> int:
    """The sum of the value's bits read as integers (wrapping): no floating-point flags, and
    1.7-3 µs for a (128, 150) array, half the cost of a float sum in np.errstate (which made a
    by-hand step 5-9% slower)."""
    bits = _BITS.get(value.itemsize)
    if bits is None:  # a long double: 6 of its 16 bytes are padding, not set by arithmetic; its float sum
        with np.errstate(all="ignore"):
            return int(np.float64(np.add.reduce(value, axis=None)).view(np.int64))
    return int(np.add.reduce(value.view(bits), axis=None, dtype=bits))


def _value_refs(t: Tensor) -> int:
    return sys.getrefcount(t._data)


class _Probe:
    __slots__ = ("_data",)


#: what ``_value_refs`` gives for an array only its tensor holds, on this Python (the references
#: a call adds differ between versions; ``memory.UNHELD`` is the same for a tensor a list holds)
_probe = _Probe()
_probe._data = np.empty(1)
_VALUE_UNHELD = _value_refs(_probe)  # type: ignore[arg-type]
del _probe


def release(recorded: list[Tensor | tuple[Tensor, ...]]) -> None:
    """Give up the values of the tensors one ``step`` block recorded that are needed no more.

    A value is needed while something outside the graph refers to its tensor (the user's
    names, lists, the loop's state: the reference count says) and while a backward rule saved
    the array (``ctx``: its count again). Outputs under 16 kB are kept, and so are those of ops
    with non-tensor arguments (users' Functions among them), which ``restore`` could not run
    (``_apply`` lists only the others; a small result does not count as a reader, so what it
    reads is kept).
    A by-hand step records several values no one needs (``h @ W``, ``x @ U``, the sums): given
    up, the graph holds about what the rules need (benchmarks/RESULTS.md, issue 14).
    ``Tensor.data`` computes a given-up value again."""
    readers = None
    for i in range(len(recorded)):  # by index: a name for the tensor would add to its count
        if type(recorded[i]) is tuple:  # the inputs of an op with non-tensor arguments: counted as readers only
            continue
        if readers is None:
            readers = _readers(recorded)
        if refs_at(recorded, i) - UNHELD > readers.get(id(recorded[i]), 0):
            continue  # the user holds the tensor
        if type(recorded[i]._data) is not np.ndarray:  # set to something else since
            continue
        value = recorded[i]._data
        pooled = is_pooled(value)
        if _value_refs(recorded[i]) - _VALUE_UNHELD > 1 + pooled:  # 1: the name value
            continue  # a rule saved the array
        recorded[i]._data = Released(value)
        if pooled:  # nothing but the pool holds it now: its next output of this shape
            give_back(value)
        del value


def _readers(recorded: list[Tensor | tuple[Tensor, ...]]) -> dict[int, int]:
    """id -> how many references to that tensor the recorded ops' input tuples hold."""
    readers: dict[int, int] = {}
    for entry in recorded:
        for p in entry if type(entry) is tuple else entry._parents:
            readers[id(p)] = readers.get(id(p), 0) + 1
    return readers


class _Kept:
    """``walk``'s ``stop`` for ``restore``: the tensors that hold their value, whose inputs are
    not needed to compute a given-up one again."""

    def __contains__(self, t: Tensor) -> bool:
        return type(t._data) is not Released


_KEPT = _Kept()


def restore(t: Tensor) -> np.ndarray:
    """The value ``t`` gave up, computed again from its inputs (and theirs, where they gave theirs
    up too) and kept from then on. Raises if it comes out different from what was given up: an
    input was changed in place since."""
    for node in walk(t, stop=_KEPT):  # the given-up tensors t needs, inputs first, and where they end
        was = node._data
        if type(was) is not Released:  # a value kept (or another thread restored it meanwhile)
            continue
        try:
            with np.errstate(all="ignore"):  # any warning was given when the value was first computed
                out, _ = node._op.forward(*[p._data for p in node._parents])
            out = np.asarray(out)
            same = out.shape == was.shape and out.dtype == was.dtype and _checksum(out) == was.checksum
        except (ValueError, TypeError, IndexError):
            same = False  # an input changed shape or type
        if not same:
            step = "" if node.step is None else f" at step {node.step}"
            raise BackwardError(
                f"{node._op.name}{step}: its value was given up at the end of its step (no name referred to it) and "
                "computing it again gives other numbers: an input was changed in place since (an optimizer step?). "
                "Read the values before changing the inputs, or record inside tinygrad_rnn.keep_values()."
            )
        node._data = out
    return t._data


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, giving ``shape``.

    If y = f(x) broadcast x from ``shape`` to ``grad.shape``, each element of x fed several
    elements of y, so dL/dx is the sum of their gradients.
    """
    if grad.shape == shape:
        return grad
    extra = grad.ndim - len(shape)
    if extra:
        grad = grad.sum(axis=tuple(range(extra)))
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[i] != 1)
    if stretched:
        grad = grad.sum(axis=stretched, keepdims=True)
    return grad


def reduce_to(node: Tensor, grad: np.ndarray) -> np.ndarray:
    """``grad`` as a gradient of ``node``: reduced to its shape and cast to its dtype."""
    data = node._data  # the array, or what a released value left (its shape and dtype)
    if grad.shape != data.shape:
        grad = unbroadcast(grad, data.shape)
        if grad.shape != data.shape:
            raise BackwardError(
                f"backward: a rule gave a gradient that does not reduce to its input's shape {data.shape} "
                f"(got {grad.shape}); a backward rule returns dL/d(input) in the input's or the output's shape"
            )
    if grad.dtype != data.dtype:
        grad = grad.astype(data.dtype)
    return grad


def accumulate(node: Tensor, grad: np.ndarray) -> None:
    """Add ``grad`` into ``node.grad``, reduced to the node's shape and cast to its dtype.

    A leaf owns its ``.grad`` array (copied on first arrival, added in place after), so its
    gradients accumulate across ``backward`` calls until reset. An intermediate tensor's
    ``.grad`` may share memory with a neighbour's and is never written in place.
    """
    data = node._data  # the array, or what a released value left (its shape and dtype)
    if grad.shape != data.shape or grad.dtype != data.dtype:
        grad = reduce_to(node, grad)
    if node._op is None:
        if node.grad is None:
            node.grad = np.array(grad, dtype=data.dtype, copy=True)
        else:
            node.grad += grad
    elif node.grad is None:
        node.grad = grad if type(grad) is np.ndarray else np.asarray(grad)
    else:
        node.grad = node.grad + grad


_FOUND_BY_BACKWARD = " (found when backward began: the forward ran outside detect_anomaly)"

#: id -> weak reference of the intermediate tensors whose gradient ``backward`` keeps
#: (``Tensor.retain_grad``); keyed by id because a WeakSet compares with ``==``, elementwise here
RETAINED: dict[int, weakref.ref] = {}


def retain(t: Tensor) -> None:
    """Keep ``t.grad`` after every ``backward()`` that reaches it, for as long as ``t`` lives."""
    key = id(t)
    RETAINED[key] = weakref.ref(t, lambda _: RETAINED.pop(key, None))


class _Pass:
    """What the last ``backward()`` was: its root, whether it finished and kept every gradient,
    and a fingerprint of each leaf's values (to tell whether they changed since)."""

    __slots__ = ("root", "done", "retained", "leaves")

    def __init__(self) -> None:
        self.root: weakref.ref | None = None
        self.done = self.retained = False
        self.leaves: list[tuple[weakref.ref, float]] = []


_LAST = _Pass()


def _fingerprint(a: np.ndarray) -> float:
    with np.errstate(all="ignore"):
        return float(np.sum(a, dtype=np.float64)) if a.dtype.kind in "fiub" else float(id(a))


def _same(x: float, y: float) -> bool:
    return x == y or (x != x and y != y)  # NaN equals NaN here


def backward(root: Tensor, grad: Any = None, retain_grads: bool = False) -> None:
    """Backpropagate from ``root``: add dL/d(leaf) into ``.grad`` of every leaf it depends on.

    ``grad`` is dL/d(root); it may be omitted only when ``root`` holds a single value. Leaf
    gradients add to what they hold. ``root.grad`` is set to ``grad``. An intermediate tensor's
    ``.grad`` is released once passed on (it would hold one array per node until the graph is
    dropped: the pass's largest memory cost); ``retain_grads=True`` keeps them all (and computes
    again the values step blocks gave up, keeping them too), and
    ``t.retain_grad()`` keeps one tensor's. ``pass_gradients(root)`` gives them all afterwards.
    """
    if retain_grads is not False and retain_grads is not True and not isinstance(retain_grads, np.bool_):
        raise BackwardError(f"backward: retain_grads must be True or False, got {retain_grads!r:.40}")
    if not root.requires_grad:
        raise BackwardError(
            f"backward: this tensor (shape {root.shape}) does not require grad: none of the "
            "tensors it was computed from has requires_grad=True, or it was computed inside "
            "no_grad(). Create the parameters with Tensor(..., requires_grad=True)."
        )
    if grad is None:
        if root.size != 1:
            raise BackwardError(
                f"backward: output has shape {root.shape}, but backward() without a gradient "
                "needs a single value. Reduce it first, e.g. y.sum() or y.mean(), or pass "
                f"grad= an array of shape {root.shape}."
            )
        seed = np.ones_like(root.data)
    else:
        try:
            seed = np.array(grad.data if hasattr(grad, "_parents") else grad, dtype=root.dtype)  # a copy: kept
        except (TypeError, ValueError):
            raise BackwardError(
                f"backward: grad must be numbers of the output's shape {root.shape}, got {type(grad).__name__} "
                f"{grad!r:.40}."
            ) from None
        if seed.shape != root.shape:
            raise BackwardError(
                f"backward: grad has shape {seed.shape} but the output has shape {root.shape}; "
                "pass a gradient of exactly the output's shape."
            )

    order = walk(root)
    if retain_grads:  # the values too: a diagram drawn after an optimizer step shows this pass
        for node in order:
            if type(node._data) is Released:
                restore(node)
    checking = MODE.get()[ANOMALY]
    if checking:  # the forward may have run outside detect_anomaly: its first bad value is the origin
        for node in order:
            if node._op is not None:
                diagnose.check_forward(node._op, node._parents, node.data, node.step, _FOUND_BY_BACKWARD)
    leaves = []
    for node in order:
        if node._op is not None:
            node.grad = None
        elif node.requires_grad:
            leaves.append((weakref.ref(node), _fingerprint(node.data)))
    last = _LAST
    last.root, last.done, last.retained, last.leaves = weakref.ref(root), False, bool(retain_grads), leaves
    accumulate(root, seed)
    retained = RETAINED or None
    for node in reversed(order):
        g = node.grad
        if g is None or node._op is None:
            continue
        parents = node._parents
        if len(parents) == 2:  # written out, not a comprehension: 0.1 µs less per node (benchmarks/tricks.py)
            needs = (parents[0].requires_grad, parents[1].requires_grad)
        else:
            needs = tuple([p.requires_grad for p in parents])
        grads = _rule(node, g, needs)
        if checking:
            for i, pgrad in enumerate(grads):
                if pgrad is not None and needs[i]:
                    diagnose.check_backward(node, i, parents[i], pgrad)
        for parent, need, pgrad in zip(parents, needs, grads, strict=True):
            if need and pgrad is not None:
                accumulate(parent, pgrad)
        if not retain_grads and node is not root and (retained is None or id(node) not in retained):
            node.grad = None  # passed on: freeing it here is most of the memory backward would hold
    last.done = True


def _rule(node: Tensor, g: np.ndarray, needs: tuple[bool, ...]) -> tuple:
    """The node's op rule: dL/d(input) for each input (None where ``needs`` is False), from
    dL/d(node) ``g``."""
    grads = node._op.backward(node._ctx, g, needs)
    if len(grads) != len(needs):
        raise BackwardError(
            f"{node._op.name}.backward returned {len(grads)} gradients for {len(needs)} inputs; "
            "return one per input (None where an input needs none)"
        )
    return grads


def local_gradients(
    node: Tensor, g: np.ndarray | None, only: Tensor | None = None
) -> list[tuple[int, Tensor, np.ndarray]]:
    """(i, parent, dL/d(parent) through input i) from the node's op rule and dL/d(node) ``g``,
    for the parents that require grad (only the inputs that are ``only``, if given); nothing
    for a leaf or a node the gradient missed."""
    if node._op is None or g is None:
        return []
    parents = node._parents
    needs = tuple([p.requires_grad if only is None else p is only for p in parents])
    grads = _rule(node, g, needs)
    return [(i, parents[i], grads[i]) for i in range(len(parents)) if needs[i] and grads[i] is not None]


def pass_gradients(root: Tensor) -> dict[Tensor, np.ndarray]:
    """dL/d(tensor) for the intermediate tensors of ``root``'s graph that the last ``backward()``
    reached, changing nothing (leaves are left out: their ``.grad`` may hold several passes).

    If that pass kept its gradients (``retain_grads=True``), or stopped on an error, they are
    read from ``.grad``. Otherwise they are computed again from the seed the pass's root kept,
    which needs the leaves' values unchanged since: if a parameter was changed in place (an
    optimizer step), this raises, since the numbers would be another model's. ``root`` may be
    the tensor backward started from or, while that one lives, any tensor the pass went through;
    otherwise the gradients are computed again from ``root.grad`` if it has one, and are only
    those that were kept if not.
    """
    last = _LAST
    start = last.root() if last.root is not None else None
    order = walk(root)
    if last.done and not last.retained:
        start_order = order if start is root or start is None else walk(start)
        if start is None or (start is not root and root not in set(start_order)):
            # the pass's root is gone (e.g. ``(a + b).backward()``), or this is another graph
            start, start_order = (root, order) if root.grad is not None else (None, [])
        else:
            alive = [(leaf, fp) for ref, fp in last.leaves if (leaf := ref()) is not None]
            changed = [leaf for leaf, fp in alive if not _same(_fingerprint(leaf.data), fp)]
            if changed:
                names = ", ".join(sorted({str(t.name or f"shape {t.shape}") for t in changed}))
                raise BackwardError(
                    f"the gradients of the last backward() pass cannot be computed again: {names} changed in "
                    "place since (an optimizer step?). Draw before the step, or call backward(retain_grads=True), "
                    "which keeps them."
                )
        if start is not None:
            if start.grad is None:
                return {}
            grads = gradients(start, start.grad, order=start_order)
            return {n: grads[n] for n in order if n._op is not None and n in grads}
    return {n: n.grad for n in order if n._op is not None and n.grad is not None}  # what the pass kept


def edge_gradients(
    root: Tensor, order: list[Tensor] | None = None, grads: dict[Tensor, np.ndarray] | None = None
) -> dict[tuple[int, int], np.ndarray]:
    """What each edge of the graph carried in the last backward pass, without changing anything.

    Keyed by ``(id(child), i)``: the part of dL/d(parent) that came through the child's i-th
    input. It replays each op's rule on the gradient the last ``backward()`` from ``root`` gave
    the child, so the contributions into a parameter sum to what that pass added to its
    ``.grad``: for a parameter shared by every time step, the per-step terms of BPTT. ``order``
    (the children to replay) is ``walk(root)`` when the caller already has it, ``grads`` is
    ``pass_gradients(root)``.
    """
    nodes = walk(root) if order is None else order
    if grads is None:
        grads = pass_gradients(root)
    return {
        (id(node), i): reduce_to(parent, g)
        for node in nodes
        for i, parent, g in local_gradients(node, grads.get(node))
    }


def gradients(
    root: Tensor, seed: np.ndarray, stop: tuple[Tensor, ...] = (), order: list[Tensor] | None = None
) -> dict[Tensor, np.ndarray]:
    """What ``backward(root, seed)`` would compute, as a dict {tensor: dL/d(tensor)}, changing
    no ``.grad`` anywhere (leaves' included): for analyses that need many backward passes.

    The walk does not go past the tensors in ``stop`` (they get their gradient, their inputs
    none), which bounds the work when only the gradient at ``stop`` is wanted. ``order`` is
    ``walk(root, stop=set(stop))`` when the caller already has it (many seeds, one graph).
    """
    ends = set(stop)
    if order is None:
        order = walk(root, stop=ends)
    grads: dict[Tensor, np.ndarray] = {root: reduce_to(root, np.asarray(seed))}
    for node in reversed(order):
        g = grads.get(node)
        if g is None or node in ends:
            continue
        for _, parent, pgrad in local_gradients(node, g):
            pgrad = reduce_to(parent, pgrad)
            held = grads.get(parent)
            grads[parent] = pgrad if held is None else held + pgrad
    return grads
