"""PyTorch interop: ``to_torch(module)`` and ``from_torch(torch_module)`` for ``Linear`` and the
recurrent cells and loops (``RNNCell``, ``RNN``, ``LSTMCell``, ``LSTM``, ``GRUCell``, ``GRU``, all
layers and both directions),
giving identical outputs and gradients (to rounding) on the same inputs.

The weights are the same numbers laid out as PyTorch keeps them: our U (input, hidden) is
PyTorch's ``weight_ih`` transposed, the gates stacked in PyTorch's order (i, f, g, o for an LSTM;
r, z, n for a GRU); our one bias per gate is PyTorch's ``bias_ih + bias_hh`` (``to_torch`` puts
it all in ``bias_ih``), except the GRU's b_h, which is PyTorch's ``bias_hn``. Our loops are
time-major, as PyTorch's are by default (``batch_first=False``). A float64 module becomes a
double-precision one and the other way round.

torch is an optional dependency: ``pip install 'tinygrad-rnn[torch]'``.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .errors import ConfigError
from .nn import GRU, LSTM, RNN, GRUCell, Linear, LSTMCell, Module, RNNCell

_GATES = {LSTMCell: ("_i", "_f", "", "_o"), GRUCell: ("_r", "_z", ""), RNNCell: ("",)}


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "tinygrad_rnn.interop needs PyTorch, which is not installed; install it with "
            "pip install 'tinygrad-rnn[torch]' (or pip install torch)"
        ) from None
    return torch


def _torch_dtype(torch: Any, dtype: np.dtype) -> Any:
    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]


def _stacked(cell: Module) -> dict[str, np.ndarray]:
    """PyTorch's four arrays (weight_ih, weight_hh, bias_ih, bias_hh) of one cell of ours."""
    gates = _GATES[type(cell)]
    H = cell.hidden_size
    weight_ih = np.concatenate([getattr(cell, f"U{g}").data for g in gates], axis=1).T
    weight_hh = np.concatenate([getattr(cell, f"W{g}").data for g in gates], axis=1).T
    bias_ih = np.concatenate([getattr(cell, f"b{g}").data for g in gates])
    bias_hh = np.zeros_like(bias_ih)
    if isinstance(cell, GRUCell):
        bias_hh[2 * H :] = cell.b_h.data
    return {"weight_ih": weight_ih, "weight_hh": weight_hh, "bias_ih": bias_ih, "bias_hh": bias_hh}


def to_torch(module: Module) -> Any:
    """The PyTorch module computing what ``module`` computes, with a copy of its weights."""
    torch = _torch()
    if isinstance(module, Linear):
        theirs = torch.nn.Linear(module.in_features, module.out_features, dtype=_torch_dtype(torch, module.V.dtype))
        arrays = {"weight": module.V.data.T, "bias": module.c.data}
    elif isinstance(module, (RNNCell, LSTMCell, GRUCell)):
        kind = {RNNCell: "RNNCell", LSTMCell: "LSTMCell", GRUCell: "GRUCell"}[type(module)]
        options = {"nonlinearity": module.nonlinearity} if isinstance(module, RNNCell) else {}
        theirs = getattr(torch.nn, kind)(
            module.input_size, module.hidden_size, dtype=_torch_dtype(torch, module.dtype), **options
        )
        arrays = _stacked(module)
    elif type(module) in (RNN, LSTM, GRU) and type(module.cell) in (RNNCell, LSTMCell, GRUCell):
        cell = module.cell
        kind = {RNNCell: "RNN", LSTMCell: "LSTM", GRUCell: "GRU"}[type(cell)]
        options = {"nonlinearity": cell.nonlinearity} if isinstance(cell, RNNCell) else {}
        theirs = getattr(torch.nn, kind)(
            cell.input_size, cell.hidden_size, num_layers=module.num_layers, bidirectional=module.bidirectional,
            dtype=_torch_dtype(torch, cell.dtype), **options,
        )  # fmt: skip
        arrays = {}
        for layer, reverse, part in module.cells():
            suffix = f"_l{layer}" + ("_reverse" if reverse else "")
            arrays.update({f"{name}{suffix}": value for name, value in _stacked(part).items()})
    else:
        raise ConfigError(
            f"to_torch: converts Linear, RNNCell, LSTMCell, GRUCell, RNN, LSTM and GRU, got {type(module).__name__}; "
            "convert a mapping's parts (model.rnn, model.head) one by one"
        )
    with torch.no_grad():
        for name, value in arrays.items():
            getattr(theirs, name).copy_(torch.from_numpy(np.ascontiguousarray(value)))
    return theirs


def from_torch(theirs: Any) -> Module:
    """Our module computing what the PyTorch module ``theirs`` computes, with a copy of its
    weights: ``torch.nn.Linear``, ``RNNCell``, ``LSTMCell``, ``GRUCell``, and time-major ``RNN``,
    ``LSTM``, ``GRU`` with any number of layers, in one or both directions."""
    torch = _torch()
    name = type(theirs).__name__
    if not isinstance(theirs, torch.nn.Module):
        raise ConfigError(f"from_torch: expected a torch.nn.Module, got {name}")
    held = next(theirs.parameters()).dtype
    dtype = {torch.float64: np.float64, torch.float32: np.float32}.get(held)
    if dtype is None:
        raise ConfigError(f"from_torch: {name} holds {held} weights; convert it with .double() or .float()")
    if getattr(theirs, "bias", True) is False or (isinstance(theirs, torch.nn.Linear) and theirs.bias is None):
        warnings.warn(
            f"from_torch: {name} has bias=False; ours always has biases: they are set to 0, so the outputs agree, "
            "but they are parameters that training changes (leave them out of the optimizer to keep them 0), and "
            "to_torch gives a module with bias=True",
            stacklevel=2,
        )
    if isinstance(theirs, torch.nn.Linear):
        ours = Linear(theirs.in_features, theirs.out_features, dtype=dtype)
        ours.V.data[...] = theirs.weight.detach().numpy().T
        ours.c.data[...] = theirs.bias.detach().numpy() if theirs.bias is not None else 0
        return ours
    cells = {torch.nn.RNNCell: RNNCell, torch.nn.LSTMCell: LSTMCell, torch.nn.GRUCell: GRUCell}
    loops = {torch.nn.RNN: (RNN, RNNCell), torch.nn.LSTM: (LSTM, LSTMCell), torch.nn.GRU: (GRU, GRUCell)}
    if type(theirs) in cells:
        loop, cell_type = None, cells[type(theirs)]
    elif type(theirs) in loops:
        loop, cell_type = loops[type(theirs)]
        unsupported = {"batch_first": (theirs.batch_first, False), "proj_size": (getattr(theirs, "proj_size", 0), 0)}
        for option, (value, ours_only) in unsupported.items():
            if value != ours_only:
                raise ConfigError(
                    f"from_torch: {name} with {option}={value!r}; our loops are time-major and project nothing: "
                    f"convert a module with {option}={ours_only!r}"
                )
    else:
        raise ConfigError(
            f"from_torch: converts torch.nn.Linear, RNNCell, LSTMCell, GRUCell, RNN, LSTM and GRU, got {name}"
        )
    options = {"nonlinearity": theirs.nonlinearity} if cell_type is RNNCell else {}
    if loop is None:
        cell = cell_type(theirs.input_size, theirs.hidden_size, dtype=dtype, **options)
        _fill(cell, theirs, "")
        return cell
    if theirs.dropout and theirs.num_layers > 1:  # (PyTorch applies it between layers only)
        warnings.warn(
            f"from_torch: {name} has dropout={theirs.dropout}, which is not carried over (our loops have no "
            "dropout between layers): the converted loop computes what the PyTorch module computes in eval mode",
            stacklevel=2,
        )
    ours = loop(theirs.input_size, theirs.hidden_size, num_layers=theirs.num_layers,
                bidirectional=theirs.bidirectional, dtype=dtype, **options)  # fmt: skip
    for layer, reverse, cell in ours.cells():
        _fill(cell, theirs, f"_l{layer}" + ("_reverse" if reverse else ""))
    return ours


def _fill(cell: Module, theirs: Any, suffix: str) -> None:
    """Copy one of PyTorch's cells (its weights named with ``suffix``) into ours."""
    H, gates = cell.hidden_size, _GATES[type(cell)]

    def get(key: str) -> np.ndarray:
        value = getattr(theirs, f"{key}{suffix}", None)
        if value is None:  # bias=False
            return np.zeros(len(gates) * H)
        return value.detach().numpy()

    w_ih, w_hh, b_ih, b_hh = get("weight_ih"), get("weight_hh"), get("bias_ih"), get("bias_hh")
    for k, gate in enumerate(gates):
        rows = slice(k * H, (k + 1) * H)
        getattr(cell, f"U{gate}").data[...] = w_ih[rows].T
        getattr(cell, f"W{gate}").data[...] = w_hh[rows].T
        if isinstance(cell, GRUCell) and gate == "":
            cell.b.data[...] = b_ih[rows]
            cell.b_h.data[...] = b_hh[rows]
        else:
            getattr(cell, f"b{gate}").data[...] = b_ih[rows] + b_hh[rows]


__all__ = ["from_torch", "to_torch"]
