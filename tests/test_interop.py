"""tinygrad_rnn.interop: to_torch / from_torch give the same function with the same weights:
identical outputs and gradients (to 1e-10 relative in float64), and a round trip returns the
same numbers. Skipped, with the reason, where torch is not installed (the [torch] extra)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tinygrad_rnn import ConfigError, Tensor, nn
from tinygrad_rnn.interop import from_torch, to_torch

try:
    import torch
except ImportError:
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="torch is not installed (pip install 'tinygrad-rnn[torch]')")

T, B, I, H = 6, 3, 4, 5
MODULES = {
    "linear": lambda: nn.Linear(I, H),
    "rnn-cell-tanh": lambda: nn.RNNCell(I, H),
    "rnn-cell-relu": lambda: nn.RNNCell(I, H, nonlinearity="relu"),
    "lstm-cell": lambda: nn.LSTMCell(I, H),
    "gru-cell": lambda: nn.GRUCell(I, H),
    "rnn": lambda: nn.RNN(I, H),
    "lstm": lambda: nn.LSTM(I, H),
    "gru": lambda: nn.GRU(I, H),
    "rnn-2-layers-both-ways": lambda: nn.RNN(I, H, num_layers=2, bidirectional=True),
    "lstm-3-layers": lambda: nn.LSTM(I, H, num_layers=3),
    "gru-both-ways": lambda: nn.GRU(I, H, bidirectional=True),
}


def _randomized(module, seed=0):
    rng = np.random.default_rng(seed)
    for p in module.parameters():
        p.data[...] = rng.normal(scale=0.6, size=p.shape)
    return module


def _run_ours(module, x, state):
    if isinstance(module, nn.Linear):
        return [module(x)]
    if isinstance(module, nn.Cell):
        out = module(x[0], state)
        return list(out) if isinstance(out, tuple) else [out]
    if module.stacked:  # the same initial state for every layer and direction, as the torch side gets
        n = module.num_layers * (2 if module.bidirectional else 1)
        parts = [np.broadcast_to(s, (n, *s.shape)) for s in (state if isinstance(state, tuple) else (state,))]
        state = tuple(parts) if isinstance(state, tuple) else parts[0]
    outs, _ = module(x, state)
    return outs


def _run_theirs(module, x, state):
    if isinstance(module, torch.nn.Linear):
        return [module(x)]
    if isinstance(module, (torch.nn.RNNCell, torch.nn.GRUCell, torch.nn.LSTMCell)):
        out = module(x[0], state)
        return list(out) if isinstance(out, tuple) else [out]
    n = module.num_layers * (2 if module.bidirectional else 1)
    stack = (lambda s: s[None].expand(n, *s.shape).contiguous()) if n > 1 else (lambda s: s[None])
    out, _ = module(x, tuple(stack(s) for s in state) if isinstance(state, tuple) else stack(state))
    return list(out)


@needs_torch
@pytest.mark.parametrize("kind", MODULES)
def test_same_outputs_and_gradients_both_ways(kind):
    ours = _randomized(MODULES[kind]())
    theirs = to_torch(ours)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(T, B, I)) if kind != "linear" else rng.normal(size=(B, I))
    h, c = rng.normal(size=(B, H)), rng.normal(size=(B, H))
    lstm = "lstm" in kind
    ours_out = _run_ours(ours, Tensor(x), (h, c) if lstm else h)
    theirs_out = _run_theirs(theirs, torch.from_numpy(x), (torch.from_numpy(h), torch.from_numpy(c)) if lstm
                             else torch.from_numpy(h))  # fmt: skip
    weights = [rng.normal(size=o.shape) for o in ours_out]
    sum(((o * w).sum() for o, w in zip(ours_out, weights, strict=True)), Tensor(0.0)).backward()
    sum((o * torch.from_numpy(w)).sum() for o, w in zip(theirs_out, weights, strict=True)).backward()
    for mine, their in zip(ours_out, theirs_out, strict=True):
        np.testing.assert_allclose(mine.data, their.detach().numpy(), rtol=1e-10, atol=1e-13)
    back = from_torch(theirs)  # their gradients, read back into our layout, are ours
    for p in theirs.parameters():
        p.data.copy_(p.grad)
    grads = dict(from_torch(theirs).named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad * (2 if _double_counted(kind, name) else 1), grads[name].data,
                                   rtol=1e-10, atol=1e-12, err_msg=name)  # fmt: skip
    for (name, p), (_, q) in zip(ours.named_parameters(), back.named_parameters(), strict=True):
        np.testing.assert_allclose(p.data, q.data, rtol=1e-15, atol=1e-15, err_msg=name)  # the round trip


def _double_counted(kind, name):
    """A bias of ours is PyTorch's bias_ih + bias_hh, so reading their two gradients back adds
    the same gradient twice (the GRU's b and b_h are each one of PyTorch's biases)."""
    own = name.rsplit(".", 1)[-1]  # cell_l1_reverse.b_f -> b_f
    if kind == "linear" or not own.startswith("b"):
        return False
    return not ("gru" in kind and own in ("b", "b_h"))


@needs_torch
def test_float32_stays_float32_and_odd_modules_are_refused():
    theirs = to_torch(nn.LSTM(2, 3, dtype=np.float32))
    assert theirs.weight_ih_l0.dtype == torch.float32
    assert from_torch(theirs).cell.dtype == np.float32
    for bad, message in (
        (torch.nn.LSTM(2, 3, proj_size=2), "proj_size=2"),
        (torch.nn.RNN(2, 3, batch_first=True), "batch_first=True"),
        (torch.nn.Conv1d(2, 3, 1), "converts torch.nn.Linear"),
    ):
        with pytest.raises(ConfigError, match=message):
            from_torch(bad)
    with pytest.raises(ConfigError, match="convert a mapping's parts"):
        to_torch(nn.SeqToSeq(2, 3, 4))


@needs_torch
def test_dropout_is_not_carried_over_and_from_torch_says_so():
    torch.manual_seed(0)
    theirs = torch.nn.GRU(2, 3, num_layers=2, dropout=0.3).double()
    with pytest.warns(UserWarning, match=r"dropout=0.3, which is not carried over.*eval mode"):
        ours = from_torch(theirs)
    xs = np.random.default_rng(0).normal(size=(4, 2, 2))
    theirs.eval()
    want, _ = theirs(torch.from_numpy(xs))
    got, _ = ours(xs)
    np.testing.assert_allclose(np.stack([o.data for o in got]), want.detach().numpy(), rtol=1e-12, atol=1e-14)
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        single = torch.nn.GRU(2, 3, num_layers=1, dropout=0.3)  # PyTorch warns: it applies none
        from_torch(single.double())
    assert not [w for w in caught if "not carried over" in str(w.message)]  # nothing lost: we say nothing


@needs_torch
@pytest.mark.parametrize("kind", ["Linear", "LSTM", "GRUCell"])
def test_a_module_without_biases_converts_with_zero_biases_and_from_torch_says_so(kind):
    """A newcomer's finding: from_torch(bias=False) then to_torch gave bias=True, silently."""
    torch.manual_seed(0)
    theirs = {"Linear": lambda: torch.nn.Linear(2, 3, bias=False), "LSTM": lambda: torch.nn.LSTM(2, 3, bias=False),
              "GRUCell": lambda: torch.nn.GRUCell(2, 3, bias=False)}[kind]().double()  # fmt: skip
    with pytest.warns(UserWarning, match=r"bias=False; ours always has biases: they are set to 0.*bias=True"):
        ours = from_torch(theirs)
    assert all(not p.data.any() for name, p in ours.named_parameters() if name.split(".")[-1].startswith("b"))
    x = np.random.default_rng(0).normal(size=(4, 2, 2) if kind == "LSTM" else (2, 2))
    want = theirs(torch.from_numpy(x))
    if kind == "LSTM":
        want, got = want[0], np.stack([o.data for o in ours(x)[0]])
    else:
        got = (ours(x) if kind == "Linear" else ours(x, np.zeros((2, 3)))).data
    np.testing.assert_allclose(got, want.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_without_torch_the_message_names_the_extra():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "from tinygrad_rnn import nn\nfrom tinygrad_rnn.interop import to_torch\n"
        "try:\n    to_torch(nn.Linear(2, 3))\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "pip install 'tinygrad-rnn[torch]'" in out
