"""Elman, LSTM and GRU layers: forward pass and backpropagation through time.

Arrays are batch-first, ``(B, T, features)``. Every function is written once
against the Array-API namespace of its inputs, so the same code runs on NumPy,
CuPy and array-api-strict; nothing here moves data between devices.

Weights keep the orientation of the equations (``W_hh`` maps h(t-1) to the
pre-activation, shape (n_gates * n_units, n_units)); the batched products are
row-major, ``h @ W_hh.T``. The gates of one layer share one matrix, stacked in
this order:

* Elman: z = W_xh x(t) + W_hh h(t-1) + b_h;  h(t) = tanh(z).
* LSTM (gates i, f, g, o; Hochreiter & Schmidhuber 1997, with the forget gate
  of Gers et al. 2000):
  i, f, o = sigmoid(z_i), sigmoid(z_f), sigmoid(z_o);  g = tanh(z_g);
  c(t) = f c(t-1) + i g;  h(t) = o tanh(c(t)).
* GRU (gates r, u, n; Cho et al. 2014, with the reset gate applied after the
  recurrent product as in cuDNN, which keeps one product per step):
  r = sigmoid(x_r + h_r);  u = sigmoid(x_u + h_u);
  n = tanh(x_n + r (h_n + b_hn));  h(t) = (1 - u) n + u h(t-1),
  where x_* and h_* are the blocks of W_xh x(t) + b_h and W_hh h(t-1).

The readout of the top layer is linear, y(t) = W_hy h(t) + b_y.

The backward pass is backpropagation through time written by hand: the
gradient reaching h(k) from a loss at step t is a product of step Jacobians
(for Elman, diag(1 - h(j)^2) W_hh for j = k+1 .. t), the product whose
shrinking or growth with t - k is the vanishing/exploding gradient problem.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.stats

from .._backend import device_of, get_namespace, to_namespace
from ..activations import get_activation

__all__ = [
    "CELLS",
    "NetworkSpec",
    "backward",
    "forward",
    "initialize_parameters",
    "loss_and_gradient",
    "parameters_to_namespace",
    "state_from_array",
    "state_to_array",
    "zero_state",
]

CELLS = ("elman", "lstm", "gru")
_N_GATES = {"elman": 1, "lstm": 4, "gru": 3}


@dataclass(frozen=True)
class NetworkSpec:
    """Shape of a stacked recurrent network.

    Attributes
    ----------
    cell : {"elman", "lstm", "gru"}
    n_features : int
        Inputs per time step.
    n_units : int
        Hidden units per layer.
    n_outputs : int
        Outputs of the linear readout.
    n_layers : int
        Stacked recurrent layers; layer l + 1 reads the hidden states of layer l.
    """

    cell: str
    n_features: int
    n_units: int
    n_outputs: int
    n_layers: int = 1

    @property
    def n_gates(self):
        return _N_GATES[self.cell]

    @property
    def n_state_parts(self):
        """Arrays of state per layer: (h, c) for the LSTM, h otherwise."""
        return 2 if self.cell == "lstm" else 1

    @property
    def state_size(self):
        """Length of the flat state vector of one sequence, all layers."""
        return self.n_layers * self.n_state_parts * self.n_units

    def parameter_names(self):
        """Names of the learned arrays, in a fixed order."""
        names = []
        for layer in range(self.n_layers):
            names += [f"W_xh_{layer}", f"W_hh_{layer}", f"b_h_{layer}"]
            if self.cell == "gru":
                names.append(f"b_hn_{layer}")
        return names + ["W_hy", "b_y"]


def _orthogonal(n, rng):
    if n == 1:
        return np.array([[rng.choice([-1.0, 1.0])]])
    return scipy.stats.ortho_group.rvs(n, random_state=rng)


def _xavier_uniform(n_out, n_in, rng):
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_out, n_in))


def initialize_parameters(spec, random_state, *, forget_bias=1.0):
    """Initial weights on the host, as float64 NumPy arrays.

    Each gate block of a recurrent matrix is a Haar-random orthogonal matrix
    (``scipy.stats.ortho_group``; Saxe et al. 2014), so the recurrent product
    neither shrinks nor grows a state at initialisation; input and readout
    matrices are Glorot-uniform per gate block (Glorot & Bengio 2010). Biases
    are zero except the LSTM forget gate, set to ``forget_bias`` so that the
    cell starts out remembering (Gers et al. 2000; Jozefowicz et al. 2015).

    Parameters
    ----------
    spec : NetworkSpec
    random_state : numpy.random.Generator
    forget_bias : float, default=1.0

    Returns
    -------
    params : dict of str to ndarray
        Keys in the order of ``spec.parameter_names()``.
    """
    rng = random_state
    H, G = spec.n_units, spec.n_gates
    params = {}
    n_in = spec.n_features
    for layer in range(spec.n_layers):
        params[f"W_xh_{layer}"] = np.concatenate([_xavier_uniform(H, n_in, rng) for _ in range(G)])
        params[f"W_hh_{layer}"] = np.concatenate([_orthogonal(H, rng) for _ in range(G)])
        b = np.zeros(G * H)
        if spec.cell == "lstm":
            b[H:2 * H] = forget_bias
        params[f"b_h_{layer}"] = b
        if spec.cell == "gru":
            params[f"b_hn_{layer}"] = np.zeros(H)
        n_in = H
    params["W_hy"] = _xavier_uniform(spec.n_outputs, H, rng)
    params["b_y"] = np.zeros(spec.n_outputs)
    return params


def parameters_to_namespace(params, xp, *, dtype, device=None):
    """Move host parameters to namespace ``xp`` (a new dict)."""
    return {name: to_namespace(value, xp, dtype=dtype, device=device)
            for name, value in params.items()}


def _zeros(xp, shape, like):
    return xp.zeros(shape, dtype=like.dtype, device=device_of(like))


def zero_state(spec, n_batch, like):
    """The all-zero state: a list over layers of tuples (h,) or (h, c), each (n_batch, n_units)."""
    xp = get_namespace(like)
    return [tuple(_zeros(xp, (n_batch, spec.n_units), like) for _ in range(spec.n_state_parts))
            for _ in range(spec.n_layers)]


def state_to_array(spec, state):
    """Flatten a layered state into shape (n_batch, spec.state_size).

    The layout is layer by layer, and within a layer h then (LSTM) c.
    """
    xp = get_namespace(*state[0])
    return xp.concat([part for layer in state for part in layer], axis=-1)


def state_from_array(spec, flat):
    """Inverse of :func:`state_to_array`."""
    H = spec.n_units
    state, start = [], 0
    for _ in range(spec.n_layers):
        parts = []
        for _ in range(spec.n_state_parts):
            parts.append(flat[:, start:start + H])
            start += H
        state.append(tuple(parts))
    return state


# --------------------------------------------------------------------------- forward


def _layer_forward(cell, A, W_xh, W_hh, b_h, b_hn, state, sigmoid, tanh, xp, keep_cache):
    """Run one layer over a batch; return the hidden sequence, final state and cache.

    Without ``keep_cache`` only what later steps need is kept (the hidden
    states, and the LSTM's cell states), not the gate activations.
    """
    B, T, n_in = A.shape
    GH, H = W_hh.shape
    P = xp.reshape(xp.reshape(A, (B * T, n_in)) @ W_xh.T, (B, T, GH)) + b_h
    W_hh_t = W_hh.T
    h = state[0]
    c = state[1] if cell == "lstm" else None
    hs, cs, steps = [], [], []
    for t in range(T):
        zx = P[:, t, :]
        zh = h @ W_hh_t
        if cell == "elman":
            h = tanh(zx + zh)
        elif cell == "lstm":
            z = zx + zh
            # One sigmoid over all four blocks costs fewer small-array calls
            # than three; the g block is then taken through tanh instead.
            s = sigmoid(z)
            i, f, o = s[:, :H], s[:, H:2 * H], s[:, 3 * H:]
            g = tanh(z[:, 2 * H:3 * H])
            c_prev = c
            c = f * c_prev + i * g
            tc = tanh(c)
            h = o * tc
            cs.append(c)
            if keep_cache:
                steps.append((i, f, g, o, c_prev, tc))
        else:  # gru
            ru = sigmoid(zx[:, :2 * H] + zh[:, :2 * H])
            r, u = ru[:, :H], ru[:, H:]
            hn = zh[:, 2 * H:] + b_hn
            n = tanh(zx[:, 2 * H:] + r * hn)
            h_prev = h
            h = n + u * (h_prev - n)
            if keep_cache:
                steps.append((r, u, hn, n))
        hs.append(h)
    H_seq = xp.stack(hs, axis=1)
    final = (h, c) if cell == "lstm" else (h,)
    return H_seq, final, (A, state, hs, cs, steps)


def forward(spec, params, X, state=None, *, lengths=None, keep_cache=True):
    """Run the network over a batch of sequences.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of str to array
        On the namespace and dtype of ``X``.
    X : array of shape (B, T, n_features)
    state : list of tuples of arrays, optional
        Initial state (see :func:`zero_state`); zero when omitted.
    lengths : sequence of int, optional
        True length of each sequence when the batch is right-padded: the
        returned final state of sequence b is the state after step
        ``lengths[b] - 1`` rather than after the padding.
    keep_cache : bool, default=True
        Keep what :func:`backward` needs; False for inference only.

    Returns
    -------
    Y : array of shape (B, T, n_outputs)
    final_state : list of tuples of arrays
    cache : object
        What :func:`backward` needs.
    """
    xp = get_namespace(X)
    B, T, _ = X.shape
    if state is None:
        state = zero_state(spec, B, X)
    sigmoid = get_activation("sigmoid", xp).function
    tanh = get_activation("tanh", xp).function
    A = X
    caches, final_state = [], []
    for layer in range(spec.n_layers):
        A, final, cache = _layer_forward(
            spec.cell, A, params[f"W_xh_{layer}"], params[f"W_hh_{layer}"], params[f"b_h_{layer}"],
            params.get(f"b_hn_{layer}"), state[layer], sigmoid, tanh, xp, keep_cache,
        )
        if lengths is not None and any(n != T for n in lengths):
            final = _state_at(spec, cache, lengths, xp)
        final_state.append(final)
        caches.append(cache)
    H = spec.n_units
    Y = xp.reshape(xp.reshape(A, (B * T, H)) @ params["W_hy"].T, (B, T, spec.n_outputs))
    Y = Y + params["b_y"]
    return Y, final_state, (caches, A)


def _state_at(spec, cache, lengths, xp):
    """State of each sequence after its own last valid step."""
    _, _, hs, cs, _ = cache
    h = xp.stack([hs[n - 1][b, :] for b, n in enumerate(lengths)], axis=0)
    if spec.cell != "lstm":
        return (h,)
    return (h, xp.stack([cs[n - 1][b, :] for b, n in enumerate(lengths)], axis=0))


# --------------------------------------------------------------------------- backward


def _layer_backward(cell, dH, W_xh, W_hh, cache, dfinal, xp, record):
    """Backpropagate through one layer.

    ``dH`` (B, T, H) is the gradient of the loss with respect to this layer's
    hidden states from outside the recurrence (the readout or the layer
    above); ``dfinal`` the gradient with respect to its final state.
    """
    A, state0, hs, _, steps = cache
    dtanh = get_activation("tanh", xp).derivative_from_output
    dsigmoid = get_activation("sigmoid", xp).derivative_from_output
    B, T, n_in = A.shape
    GH, H = W_hh.shape
    dh_next = dfinal[0]
    dc_next = dfinal[1] if cell == "lstm" else None
    dzx_steps, dzh_steps = [None] * T, [None] * T
    recorded = [None] * T if record else None
    for t in range(T - 1, -1, -1):
        dh = dH[:, t, :] + dh_next
        if record:
            recorded[t] = dh
        h = hs[t]
        h_prev = hs[t - 1] if t > 0 else state0[0]
        if cell == "elman":
            dz = dh * dtanh(h)
            dzx_steps[t] = dz
            dh_next = dz @ W_hh
        elif cell == "lstm":
            i, f, g, o, c_prev, tc = steps[t]
            dc = dc_next + dh * o * dtanh(tc)
            dz = xp.concat([
                dc * g * dsigmoid(i),
                dc * c_prev * dsigmoid(f),
                dc * i * dtanh(g),
                dh * tc * dsigmoid(o),
            ], axis=-1)
            dzx_steps[t] = dz
            dh_next = dz @ W_hh
            dc_next = dc * f
        else:  # gru
            r, u, hn, n = steps[t]
            dn = dh * (1.0 - u) * dtanh(n)
            dr = dn * hn * dsigmoid(r)
            du = dh * (h_prev - n) * dsigmoid(u)
            dzh = xp.concat([dr, du, dn * r], axis=-1)
            dzx_steps[t] = xp.concat([dr, du, dn], axis=-1)
            dzh_steps[t] = dzh
            dh_next = dh * u + dzh @ W_hh
    dZx = xp.reshape(xp.stack(dzx_steps, axis=1), (B * T, GH))
    dZh = dZx if cell != "gru" else xp.reshape(xp.stack(dzh_steps, axis=1), (B * T, GH))
    H_prev = xp.reshape(xp.stack([state0[0]] + hs[:-1], axis=1), (B * T, H))
    A_flat = xp.reshape(A, (B * T, n_in))
    grads = {
        "W_xh": dZx.T @ A_flat,
        "W_hh": dZh.T @ H_prev,
        "b_h": xp.sum(dZx, axis=0),
    }
    if cell == "gru":
        grads["b_hn"] = xp.sum(dZh[:, 2 * H:], axis=0)
    dA = xp.reshape(dZx @ W_xh, (B, T, n_in))
    dstate0 = (dh_next, dc_next) if cell == "lstm" else (dh_next,)
    return grads, dA, dstate0, recorded


def backward(spec, params, cache, dY, dfinal_state=None, *, record_layer=None):
    """Backpropagation through time for :func:`forward`.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of str to array
    cache : object
        Third output of :func:`forward`.
    dY : array of shape (B, T, n_outputs)
        Gradient of the loss with respect to the outputs.
    dfinal_state : list of tuples of arrays, optional
        Gradient with respect to the final state (zero when omitted).
    record_layer : int, optional
        Also return dL/dh(k) of this layer for every step k: the total
        gradient reaching the hidden state, through time and from above.

    Returns
    -------
    grads : dict of str to array
        Same keys and shapes as ``params``.
    dstate : list of tuples of arrays
        Gradient with respect to the initial state.
    dh : list of arrays of shape (B, n_units), or None
        Per step, when ``record_layer`` is given.
    """
    xp = get_namespace(dY)
    caches, H_top = cache
    B, T, k = dY.shape
    H = spec.n_units
    dY_flat = xp.reshape(dY, (B * T, k))
    grads = {
        "W_hy": dY_flat.T @ xp.reshape(H_top, (B * T, H)),
        "b_y": xp.sum(dY_flat, axis=0),
    }
    dA = xp.reshape(dY_flat @ params["W_hy"], (B, T, H))
    if record_layer is not None and record_layer < 0:
        record_layer += spec.n_layers
    dstate = [None] * spec.n_layers
    recorded = None
    for layer in range(spec.n_layers - 1, -1, -1):
        if dfinal_state is None:
            like = caches[layer][2][0]
            dfinal = tuple(_zeros(xp, (B, H), like) for _ in range(spec.n_state_parts))
        else:
            dfinal = dfinal_state[layer]
        layer_grads, dA, dstate[layer], rec = _layer_backward(
            spec.cell, dA, params[f"W_xh_{layer}"], params[f"W_hh_{layer}"], caches[layer],
            dfinal, xp, record=(layer == record_layer),
        )
        if rec is not None:
            recorded = rec
        for name, value in layer_grads.items():
            grads[f"{name}_{layer}"] = value
    return {name: grads[name] for name in params}, dstate, recorded


def loss_and_gradient(spec, params, X, Y, mask=None, state=None):
    """Mean squared error over the unmasked steps and its gradient.

    The loss is ``sum_{b,t} mask[b,t] ||y_hat[b,t] - Y[b,t]||^2 / (2 n_outputs sum(mask))``,
    half the mean squared error over the steps that count.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of str to array
    X : array of shape (B, T, n_features)
    Y : array of shape (B, T, n_outputs)
    mask : array of shape (B, T), optional
        1 for steps that enter the loss, 0 for washout and padding.
    state : list of tuples of arrays, optional
        Initial state, a constant for the gradient (truncated BPTT carries
        the state of the previous window this way).

    Returns
    -------
    loss : float
    grads : dict of str to array
    final_state : list of tuples of arrays
    n_counted : float
        Number of steps that entered the loss.
    """
    xp = get_namespace(X, Y)
    Y_hat, final_state, cache = forward(spec, params, X, state)
    diff = Y_hat - Y
    if mask is None:
        n_counted = float(X.shape[0] * X.shape[1])
    else:
        diff = diff * mask[:, :, None]
        n_counted = float(xp.sum(mask))
    scale = 1.0 / (max(n_counted, 1.0) * spec.n_outputs)
    loss = 0.5 * scale * float(xp.sum(diff * diff))
    grads, _, _ = backward(spec, params, cache, diff * scale)
    return loss, grads, final_state, n_counted
