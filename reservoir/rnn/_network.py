"""Stacked, optionally bidirectional recurrent networks: one time loop, one BPTT.

A network is ``n_layers`` layers of one cell type (see
:mod:`reservoir.rnn._cells`); layer l + 1 reads the hidden states of layer l,
and a linear readout y(t) = W_hy h(t) + b_y reads the top layer. A
bidirectional layer runs a second cell of its own over the reversed series
and outputs both hidden states side by side, [h_fwd(t); h_bwd(t)] (Schuster &
Paliwal 1997): every output then depends on the whole series, which suits
offline tasks only.

One time loop (:func:`_run_direction`) drives any cell, and one backward loop
(:func:`_backprop_direction`) is backpropagation through time for any cell.
Three things act on the state between steps, all through one rule,

    state(t) = k(t) state(t-1) + (1 - k(t)) cell(state(t-1), x(t)),

with a "keep" mask k in [0, 1] per sequence, step and unit:

* padding: a right-padded sequence keeps its state (k = 1) over the padding,
  so its final state is the state after its own last step and, read in
  reverse, its backward direction starts at its own end, from its initial
  state; the padded steps add nothing to any gradient;
* zoneout (Krueger et al. 2017): during training each unit keeps its
  previous value with probability ``zoneout`` (k drawn 0 or 1 per step); at
  inference k is that probability, the expectation of the training update;
* neither: k = 0, the plain update.

Dropout (Gal & Ghahramani 2016) multiplies each layer's input, and the top
layer's output, by a mask drawn once per sequence and kept across all its
time steps (inverted: kept units are scaled by 1 / (1 - rate), so inference
uses no mask).

Parameters of layer l are named ``W_xh_l``, ``W_hh_l``, ``b_h_l`` (and the
cell's extras); the reverse direction of a bidirectional layer appends
``_reverse``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._backend import device_of, get_namespace, to_namespace
from ._cells import RecurrentCell, StepFunctions, glorot_uniform, make_cell

__all__ = [
    "NetworkSpec",
    "Noise",
    "backprop_network",
    "backward",
    "draw_noise",
    "forward",
    "initialize_parameters",
    "keep_mask",
    "padding_mask",
    "parameters_to_namespace",
    "readout",
    "run_network",
    "state_from_array",
    "state_to_array",
    "zero_state",
]


@dataclass(frozen=True)
class NetworkSpec:
    """Shape of a stacked recurrent network.

    Attributes
    ----------
    cell : RecurrentCell or str
        The cell of every layer (a name of ``CELLS`` is turned into the cell
        with its default options).
    n_features : int
        Inputs per time step.
    n_units : int
        Hidden units per layer and direction.
    n_outputs : int
        Outputs of the linear readout.
    n_layers : int
        Stacked recurrent layers; layer l + 1 reads the hidden states of layer l.
    bidirectional : bool
        Each layer also runs over the reversed series.
    zoneout : float
        Probability that a unit keeps its previous value at a training step.
    """

    cell: RecurrentCell
    n_features: int
    n_units: int
    n_outputs: int
    n_layers: int = 1
    bidirectional: bool = False
    zoneout: float = 0.0

    def __post_init__(self):
        object.__setattr__(self, "cell", make_cell(self.cell))

    @property
    def n_directions(self):
        return 2 if self.bidirectional else 1

    @property
    def n_gates(self):
        return self.cell.n_gates

    @property
    def n_state_parts(self):
        """Arrays of state per layer and direction: (h, c) for the LSTM, h otherwise."""
        return self.cell.n_state_parts

    @property
    def output_size(self):
        """Width of a layer's output: n_units per direction."""
        return self.n_directions * self.n_units

    @property
    def state_size(self):
        """Length of the flat state vector of one sequence, all layers and directions."""
        return self.n_layers * self.n_directions * self.n_state_parts * self.n_units

    def runs(self):
        """(layer, reverse, suffix) for every cell run, bottom layer first, forward first."""
        out = []
        for layer in range(self.n_layers):
            out.append((layer, False, f"{layer}"))
            if self.bidirectional:
                out.append((layer, True, f"{layer}_reverse"))
        return out

    def layer_inputs(self, layer):
        return self.n_features if layer == 0 else self.output_size

    def parameter_shapes(self):
        """Shapes of the learned arrays, by name, in a fixed order."""
        shapes = {}
        for layer, _, suffix in self.runs():
            for name, shape in self.cell.parameter_shapes(self.layer_inputs(layer),
                                                          self.n_units).items():
                shapes[f"{name}_{suffix}"] = shape
        shapes["W_hy"] = (self.n_outputs, self.output_size)
        shapes["b_y"] = (self.n_outputs,)
        return shapes

    def parameter_names(self):
        return list(self.parameter_shapes())


def _run_parameters(spec, params, suffix):
    """The parameters of one run (layer and direction), under the cell's own names."""
    return {name: params[f"{name}_{suffix}"] for name in spec.cell.parameter_shapes(1, 1)}


def initialize_parameters(spec, random_state, *, spectral_radius=1.0):
    """Initial weights on the host, as float64 NumPy arrays.

    Each run of a cell (layer and direction) draws its weights with the
    cell's :meth:`~reservoir.rnn._cells.RecurrentCell.initialize`, bottom
    layer first; the readout ``W_hy`` is Glorot-uniform, ``b_y`` zero.

    Parameters
    ----------
    spec : NetworkSpec
    random_state : numpy.random.Generator
    spectral_radius : float, default=1.0
        Spectral radius of every initial recurrent matrix (each gate block).

    Returns
    -------
    params : dict of str to ndarray
        Keys in the order of ``spec.parameter_names()``.
    """
    params = {}
    for layer, _, suffix in spec.runs():
        drawn = spec.cell.initialize(spec.layer_inputs(layer), spec.n_units, random_state,
                                     spectral_radius=spectral_radius)
        params.update({f"{name}_{suffix}": value for name, value in drawn.items()})
    params["W_hy"] = glorot_uniform(spec.n_outputs, spec.output_size, random_state)
    params["b_y"] = np.zeros(spec.n_outputs)
    return params


def parameters_to_namespace(params, xp, *, dtype, device=None):
    """Move host parameters to namespace ``xp`` (a new dict)."""
    return {name: to_namespace(value, xp, dtype=dtype, device=device)
            for name, value in params.items()}


# --------------------------------------------------------------------------- states


def _zeros(xp, shape, like):
    return xp.zeros(shape, dtype=like.dtype, device=device_of(like))


def zero_state(spec, n_batch, like):
    """The all-zero state: a list over runs (layer, direction) of tuples (h,) or (h, c)."""
    xp = get_namespace(like)
    return [tuple(_zeros(xp, (n_batch, spec.n_units), like) for _ in range(spec.n_state_parts))
            for _ in spec.runs()]


def state_to_array(spec, state):
    """Flatten a state into shape (n_batch, spec.state_size).

    The layout is layer by layer, within a layer forward then reverse
    direction, and within a run h then (LSTM) c.
    """
    xp = get_namespace(*state[0])
    return xp.concat([part for run in state for part in run], axis=-1)


def state_from_array(spec, flat):
    """Inverse of :func:`state_to_array`."""
    H = spec.n_units
    state, start = [], 0
    for _ in spec.runs():
        parts = []
        for _ in range(spec.n_state_parts):
            parts.append(flat[:, start:start + H])
            start += H
        state.append(tuple(parts))
    return state


# --------------------------------------------------------------------------- masks


@dataclass
class Noise:
    """The random masks of one training batch.

    Attributes
    ----------
    input_masks : list of arrays or None
        Per layer, the dropout mask (B, n_inputs of the layer) applied to
        every step of the layer's input; None where that layer has none.
    output_mask : array of shape (B, output_size) or None
        Dropout mask on the top layer's output (what the readout reads).
    zoneout_masks : list of arrays or None
        Per run, 1 where a unit keeps its previous value, shape (B, T, n_units).
    """

    input_masks: list
    output_mask: object = None
    zoneout_masks: list | None = None

    def window(self, start, stop):
        """The masks of steps ``[start, stop)`` (dropout masks are per sequence: unchanged)."""
        if self.zoneout_masks is None:
            return self
        return Noise(self.input_masks, self.output_mask,
                     [m[:, start:stop, :] for m in self.zoneout_masks])


def draw_noise(spec, n_batch, n_steps, rng, *, dropout=0.0, input_dropout=0.0, like):
    """Dropout and zoneout masks for a batch, or None when training is deterministic.

    Drawn on the host with ``rng`` and moved to the namespace and device of
    ``like``, so the same seed gives the same masks on every backend.
    """
    if dropout == 0 and input_dropout == 0 and spec.zoneout == 0:
        return None
    xp = get_namespace(like)

    def put(a):
        return to_namespace(a, xp, dtype=like.dtype, device=device_of(like))

    def dropout_mask(rate, width):
        if rate == 0:
            return None
        return put((rng.random((n_batch, width)) >= rate) / (1.0 - rate))

    input_masks = [dropout_mask(input_dropout if layer == 0 else dropout, spec.layer_inputs(layer))
                   for layer in range(spec.n_layers)]
    output_mask = dropout_mask(dropout, spec.output_size)
    zoneout = None
    if spec.zoneout > 0:
        zoneout = [put((rng.random((n_batch, n_steps, spec.n_units)) < spec.zoneout) * 1.0)
                   for _ in spec.runs()]
    return Noise(input_masks, output_mask, zoneout)


def padding_mask(lengths, n_steps, like):
    """(B, T, 1) array, 1 on the steps after each sequence's end; None without padding."""
    if lengths is None or all(n >= n_steps for n in lengths):
        return None
    host = (np.arange(n_steps)[None, :] >= np.asarray(lengths)[:, None]) * 1.0
    xp = get_namespace(like)
    return to_namespace(host[:, :, None], xp, dtype=like.dtype, device=device_of(like))


def keep_mask(spec, noise, run, pad, shape, like):
    """The keep mask k of one run (see the module notes), or None where k = 0 throughout."""
    xp = get_namespace(like)
    if noise is not None and noise.zoneout_masks is not None:
        zone = noise.zoneout_masks[run]
    elif spec.zoneout > 0:
        zone = xp.full(tuple(shape[:2]) + (1,), spec.zoneout, dtype=like.dtype,
                       device=device_of(like))
    else:
        return pad
    return zone if pad is None else zone + pad * (1.0 - zone)


# --------------------------------------------------------------------------- forward


def _run_direction(cell, p, A, state, keep, reverse, fn, keep_cache):
    """Run one cell over a batch (forward in time, or reversed).

    Returns the hidden states by step, the final state, and per step the
    state before it and what the cell saved for its backward step.
    """
    xp = fn.xp
    B, T, n_in = A.shape
    GH = p["b_h"].shape[0]
    P = xp.reshape(xp.reshape(A, (B * T, n_in)) @ p["W_xh"].T, (B, T, GH)) + p["b_h"]
    hs = [None] * T
    before = [None] * T if keep_cache else None
    saved = [None] * T if keep_cache else None
    for t in (range(T - 1, -1, -1) if reverse else range(T)):
        new, s = cell.step(p, P[:, t, :], cell.recurrent(p, state[0]), state, fn)
        if keep is not None:
            k = keep[:, t, :]
            new = tuple(n + k * (o - n) for n, o in zip(new, state, strict=True))
        if keep_cache:
            before[t], saved[t] = state, s
        state = new
        hs[t] = state[0]
    return hs, state, (before, saved)


def run_network(spec, params, X, state=None, *, lengths=None, noise=None, keep_cache=True):
    """Run the recurrent layers over a batch; return the top layer's hidden states.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of str to array
        On the namespace and dtype of ``X``.
    X : array of shape (B, T, n_features)
    state : list of tuples of arrays, optional
        Initial state (see :func:`zero_state`); zero when omitted. For a
        reverse direction, the state before its first step, the series' end.
    lengths : sequence of int, optional
        True length of each right-padded sequence (see the module notes).
    noise : Noise, optional
        Training masks; None for inference.
    keep_cache : bool, default=True
        Keep what :func:`backprop_network` needs; False for inference only.

    Returns
    -------
    H : array of shape (B, T, spec.output_size)
    final_state : list of tuples of arrays
    cache : object
    """
    xp = get_namespace(X)
    B, T, _ = X.shape
    fn = StepFunctions(xp)
    if state is None:
        state = zero_state(spec, B, X)
    pad = padding_mask(lengths, T, X)
    A = X
    layers, final = [], []
    runs = spec.runs()
    for layer in range(spec.n_layers):
        in_mask = noise.input_masks[layer] if noise is not None else None
        if in_mask is not None:
            A = A * in_mask[:, None, :]
        outputs, run_caches = [], []
        for r, (run_layer, reverse, suffix) in enumerate(runs):
            if run_layer != layer:
                continue
            p = spec.cell.prepare(_run_parameters(spec, params, suffix))
            keep = keep_mask(spec, noise, r, pad, (B, T), X)
            hs, fin, steps = _run_direction(spec.cell, p, A, state[r], keep, reverse, fn,
                                            keep_cache)
            final.append(fin)
            outputs.append(xp.stack(hs, axis=1))
            run_caches.append((r, suffix, p, reverse, keep, hs, steps))
        layers.append((A, in_mask, run_caches))
        A = outputs[0] if len(outputs) == 1 else xp.concat(outputs, axis=-1)
    out_mask = noise.output_mask if noise is not None else None
    H = A if out_mask is None else A * out_mask[:, None, :]
    cache = (layers, out_mask, H, state) if keep_cache else None
    return H, final, cache


def readout(params, H):
    """y(t) = W_hy h(t) + b_y for hidden states H of shape (B, T, D) or (B, D)."""
    xp = get_namespace(H)
    shape = tuple(H.shape)
    flat = xp.reshape(H, (-1, shape[-1])) @ params["W_hy"].T + params["b_y"]
    return xp.reshape(flat, shape[:-1] + (params["b_y"].shape[0],))


def forward(spec, params, X, state=None, *, lengths=None, noise=None, keep_cache=True):
    """The network's outputs at every step: :func:`run_network`, then :func:`readout`.

    Returns
    -------
    Y : array of shape (B, T, n_outputs)
    final_state : list of tuples of arrays
    cache : object
        What :func:`backward` needs.
    """
    H, final, cache = run_network(spec, params, X, state, lengths=lengths, noise=noise,
                                  keep_cache=keep_cache)
    return readout(params, H), final, cache


# --------------------------------------------------------------------------- backward


def _backprop_direction(cell, p, A, hs, steps, state0, keep, reverse, dH, dfinal, fn, record):
    """Backpropagation through time for one run of a cell.

    ``dH`` (B, T, n_units) is the gradient of the loss with respect to this
    run's hidden states from outside the recurrence (the readout or the layer
    above); ``dfinal`` the gradient with respect to its final state.
    """
    xp = fn.xp
    before, saved = steps
    B, T, n_in = A.shape
    dstate = dfinal
    dzx_steps, dzh_steps = [None] * T, [None] * T
    extra = {}
    recorded = [None] * T if record else None
    for t in (range(T) if reverse else range(T - 1, -1, -1)):
        dnew = (dH[:, t, :] + dstate[0],) + tuple(dstate[1:])
        if record:
            recorded[t] = dnew[0]
        if keep is not None:
            k = keep[:, t, :]
            carried = tuple(k * d for d in dnew)
            dnew = tuple(d - c for d, c in zip(dnew, carried, strict=True))
        dzx, dzh, direct, step_extra = cell.step_backward(p, dnew, before[t], saved[t], fn)
        dh_prev = cell.recurrent_backward(p, dzh)
        if direct[0] is not None:
            dh_prev = dh_prev + direct[0]
        parts = (dh_prev,) + tuple(
            d if d is not None else xp.zeros_like(dh_prev) for d in direct[1:])
        if keep is not None:
            parts = tuple(a + c for a, c in zip(parts, carried, strict=True))
        dstate = parts
        dzx_steps[t], dzh_steps[t] = dzx, dzh
        if step_extra:
            for name, value in step_extra.items():
                extra[name] = value if name not in extra else extra[name] + value
    GH = dzx_steps[0].shape[1]
    H = hs[0].shape[1]
    dZx = xp.reshape(xp.stack(dzx_steps, axis=1), (B * T, GH))
    same = all(a is b for a, b in zip(dzx_steps, dzh_steps, strict=True))
    dZh = dZx if same else xp.reshape(xp.stack(dzh_steps, axis=1), (B * T, GH))
    H_prev = xp.reshape(xp.stack([before[t][0] for t in range(T)], axis=1), (B * T, H))
    grads = {"W_xh": dZx.T @ xp.reshape(A, (B * T, n_in)), "b_h": xp.sum(dZx, axis=0)}
    grads.update(cell.recurrent_gradient(p, dZh, H_prev, xp))
    grads.update(extra)
    dA = xp.reshape(dZx @ p["W_xh"], (B, T, n_in))
    return grads, dA, dstate, recorded


def backprop_network(spec, params, cache, dH, dfinal_state=None, *, record_layer=None):
    """Backpropagation through time for :func:`run_network`.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of str to array
    cache : object
        Third output of :func:`run_network`.
    dH : array of shape (B, T, spec.output_size)
        Gradient of the loss with respect to the network's output H.
    dfinal_state : list of tuples of arrays, optional
        Gradient with respect to the final state (zero when omitted).
    record_layer : int, optional
        Also return dL/dh(k) of this layer for every step k: the total
        gradient reaching its hidden state (both directions side by side),
        through time and from above.

    Returns
    -------
    grads : dict of str to array
        Gradients of the recurrent parameters (not the readout's).
    dstate : list of tuples of arrays
        Gradient with respect to the initial state.
    dh : list of arrays of shape (B, spec.output_size), or None
        Per step, when ``record_layer`` is given.
    """
    xp = get_namespace(dH)
    layers, out_mask, _, state0 = cache
    fn = StepFunctions(xp)
    if record_layer is not None and record_layer < 0:
        record_layer += spec.n_layers
    dA = dH if out_mask is None else dH * out_mask[:, None, :]
    U = spec.n_units
    grads, dstate, recorded = {}, [None] * len(spec.runs()), None
    for layer in range(spec.n_layers - 1, -1, -1):
        A, in_mask, run_caches = layers[layer]
        dA_below, layer_recorded = None, []
        for d, (r, suffix, p, reverse, keep, hs, steps) in enumerate(run_caches):
            dH_run = dA if len(run_caches) == 1 else dA[:, :, d * U:(d + 1) * U]
            if dfinal_state is None:
                dfinal = tuple(_zeros(xp, (dH.shape[0], U), dH)
                               for _ in range(spec.n_state_parts))
            else:
                dfinal = dfinal_state[r]
            run_grads, dA_run, dstate[r], rec = _backprop_direction(
                spec.cell, p, A, hs, steps, state0[r], keep, reverse, dH_run, dfinal, fn,
                record=(layer == record_layer))
            grads.update({f"{name}_{suffix}": value for name, value in run_grads.items()})
            dA_below = dA_run if dA_below is None else dA_below + dA_run
            layer_recorded.append(rec)
        if layer == record_layer:
            recorded = [layer_recorded[0][t] if len(layer_recorded) == 1
                        else xp.concat([rec[t] for rec in layer_recorded], axis=-1)
                        for t in range(len(layer_recorded[0]))]
        if in_mask is not None:
            dA_below = dA_below * in_mask[:, None, :]
        dA = dA_below
    return grads, dstate, recorded


def backward(spec, params, cache, dY, dfinal_state=None, *, record_layer=None):
    """Backpropagation through time for :func:`forward` (readout included).

    Parameters
    ----------
    dY : array of shape (B, T, n_outputs)
        Gradient of the loss with respect to the outputs.

    Returns
    -------
    grads : dict of str to array
        Same keys and shapes as ``params``.
    dstate : list of tuples of arrays
        Gradient with respect to the initial state.
    dh : list of arrays, or None
        See :func:`backprop_network`.
    """
    xp = get_namespace(dY)
    H = cache[2]
    B, T, k = dY.shape
    dY_flat = xp.reshape(dY, (B * T, k))
    dH = xp.reshape(dY_flat @ params["W_hy"], (B, T, spec.output_size))
    grads, dstate, recorded = backprop_network(spec, params, cache, dH, dfinal_state,
                                               record_layer=record_layer)
    grads["W_hy"] = dY_flat.T @ xp.reshape(H, (B * T, spec.output_size))
    grads["b_y"] = xp.sum(dY_flat, axis=0)
    return {name: grads[name] for name in params}, dstate, recorded
