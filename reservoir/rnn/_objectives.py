"""What the networks are trained to minimise: per-step or pooled heads and their losses.

A head turns the top layer's hidden states H (B, T, D) into outputs, and a
loss compares them with the targets:

* per step (``pooling=None``): y(t) = W_hy h(t) + b_y at every step, the loss
  averaged over the steps whose ``mask`` is 1 (washout and padding are 0);
* per sequence (``pooling="mean"`` or ``"last"``): one output per sequence
  from a pooled hidden state, the mean of h(t) over the masked steps, or the
  state at the sequence's last step (for a bidirectional network, the
  forward direction's state at the last step beside the reverse direction's
  at the first, each direction's final state);

and the losses are

* ``"squared_error"``: sum ||y - t||^2 / (2 n k), half the mean squared error
  over the n counted steps and k outputs;
* ``"log_loss"``: the cross-entropy of the logistic (one output, targets 0 or
  1) or of the softmax (one output per class, one-hot targets), averaged
  over the n counted steps or sequences.

Each loss returns its sum and its gradient with respect to the outputs
before normalisation, so that one step at a time (real-time recurrent
learning) and all steps at once (backpropagation through time) share it.
"""

from __future__ import annotations

import numpy as np

from .._backend import device_of, get_namespace, to_namespace
from ._network import backprop_network, readout, run_network

__all__ = [
    "LOSSES",
    "POOLINGS",
    "head_loss_and_gradient",
    "log_loss",
    "loss_and_gradient",
    "normalizer",
    "pool",
    "pool_weights",
    "score",
    "squared_error",
]

LOSSES = ("squared_error", "log_loss")
POOLINGS = ("mean", "last")


def squared_error(Y_hat, Y, weights):
    """Half the weighted sum of squared errors, and its gradient dL/dY_hat.

    ``weights`` (0 or 1) has the shape of ``Y_hat`` without its output axis.
    """
    xp = get_namespace(Y_hat)
    diff = (Y_hat - Y) * weights[..., None]
    return 0.5 * float(xp.sum(diff * diff)), diff


def _sigmoid(z, xp):
    return 0.5 * (1.0 + xp.tanh(0.5 * z))


def log_loss(Z, T, weights):
    """Weighted sum of cross-entropies of logits Z against targets T, and dL/dZ.

    One output: the logistic loss softplus(z) - t z with t in {0, 1}. Several
    outputs: the softmax cross-entropy logsumexp(z) - sum t z with one-hot t.
    Both are computed without overflow for any logit.
    """
    xp = get_namespace(Z)
    if Z.shape[-1] == 1:
        softplus = xp.maximum(Z, xp.zeros_like(Z)) + xp.log1p(xp.exp(-xp.abs(Z)))
        per = (softplus - T * Z)[..., 0]
        prob = _sigmoid(Z, xp)
    else:
        top = xp.max(Z, axis=-1, keepdims=True)
        e = xp.exp(Z - top)
        total = xp.sum(e, axis=-1, keepdims=True)
        per = (top + xp.log(total))[..., 0] - xp.sum(T * Z, axis=-1)
        prob = e / total
    return float(xp.sum(per * weights)), (prob - T) * weights[..., None]


_LOSS_FUNCTIONS = {"squared_error": squared_error, "log_loss": log_loss}


def normalizer(loss, n_counted, n_outputs):
    """What a summed loss is divided by: counted steps (times outputs for squared error)."""
    n = max(float(n_counted), 1.0)
    return n * n_outputs if loss == "squared_error" else n


def pool_weights(spec, mask, lengths, pooling, like):
    """Weights (B, T) of the forward and of the reverse direction for a pooled head.

    ``"mean"``: the mask over the number of masked steps, for both
    directions. ``"last"``: 1 at each sequence's last step for the forward
    direction, at its first step for the reverse one (their final states).
    """
    xp = get_namespace(like)
    B, T = like.shape[0], like.shape[1]
    if pooling == "mean":
        w = mask / xp.sum(mask, axis=1, keepdims=True)
        return w, w
    n = np.full(B, T) if lengths is None else np.asarray(lengths)
    last = np.zeros((B, T))
    last[np.arange(B), n - 1] = 1.0
    first = np.zeros((B, T))
    first[:, 0] = 1.0
    put = [to_namespace(a, xp, dtype=like.dtype, device=device_of(like)) for a in (last, first)]
    return put[0], put[1]


def pool(spec, H, weights):
    """Pooled hidden state (B, D): each direction's states summed with its weights."""
    xp = get_namespace(H)
    U = spec.n_units
    parts = [xp.sum(H[:, :, d * U:(d + 1) * U] * w[:, :, None], axis=1)
             for d, w in enumerate(weights[:spec.n_directions])]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)


def _unpool(spec, dP, weights, xp):
    U = spec.n_units
    parts = [weights[d][:, :, None] * dP[:, None, d * U:(d + 1) * U]
             for d in range(spec.n_directions)]
    return parts[0] if len(parts) == 1 else xp.concat(parts, axis=-1)


def head_loss_and_gradient(spec, params, H, Y, mask=None, *, lengths=None,
                           loss="squared_error", pooling=None):
    """Loss of the outputs read from hidden states H, its gradient dL/dH and the readout's.

    Parameters
    ----------
    H : array of shape (B, T, spec.output_size)
    Y : array of shape (B, T, n_outputs), or (B, n_outputs) with ``pooling``
    mask : array of shape (B, T), optional
        1 for the steps that count (in the loss, or in the mean pool).

    Returns
    -------
    loss : float
        Normalised (see the module notes).
    dH : array like H
    readout_grads : dict with ``W_hy`` and ``b_y``
    n_counted : float
        Steps (per-step head) or sequences (pooled head) in the loss.
    """
    xp = get_namespace(H)
    B, T, D = H.shape
    k = params["b_y"].shape[0]
    if pooling is None:
        weights = mask if mask is not None else xp.ones((B, T), dtype=H.dtype,
                                                         device=device_of(H))
        n_counted = float(xp.sum(weights))
        total, dY = _LOSS_FUNCTIONS[loss](readout(params, H), Y, weights)
        scale = 1.0 / normalizer(loss, n_counted, k)
        dY = xp.reshape(dY * scale, (B * T, k))
        grads = {"W_hy": dY.T @ xp.reshape(H, (B * T, D)), "b_y": xp.sum(dY, axis=0)}
        return total * scale, xp.reshape(dY @ params["W_hy"], (B, T, D)), grads, n_counted
    if mask is None:
        mask = xp.ones((B, T), dtype=H.dtype, device=device_of(H))
    weights = pool_weights(spec, mask, lengths, pooling, H)
    pooled = pool(spec, H, weights)
    ones = xp.ones((B,), dtype=H.dtype, device=device_of(H))
    total, dZ = _LOSS_FUNCTIONS[loss](readout(params, pooled), Y, ones)
    scale = 1.0 / normalizer(loss, B, k)
    dZ = dZ * scale
    grads = {"W_hy": dZ.T @ pooled, "b_y": xp.sum(dZ, axis=0)}
    return total * scale, _unpool(spec, dZ @ params["W_hy"], weights, xp), grads, float(B)


def loss_and_gradient(spec, params, X, Y, mask=None, state=None, *, lengths=None, noise=None,
                      loss="squared_error", pooling=None):
    """Loss of a batch and its gradient by backpropagation through time.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of str to array
    X : array of shape (B, T, n_features)
    Y : array of shape (B, T, n_outputs), or (B, n_outputs) with ``pooling``
    mask : array of shape (B, T), optional
        1 for steps that enter the loss (or the mean pool), 0 for washout and padding.
    state : list of tuples of arrays, optional
        Initial state, a constant for the gradient (truncated BPTT carries
        the state of the previous chunk this way).
    lengths : sequence of int, optional
        True lengths of right-padded sequences.
    noise : Noise, optional
        Dropout and zoneout masks, held fixed.
    loss : {"squared_error", "log_loss"}
    pooling : {None, "mean", "last"}

    Returns
    -------
    loss : float
    grads : dict of str to array
    final_state : list of tuples of arrays
    n_counted : float
    """
    H, final_state, cache = run_network(spec, params, X, state, lengths=lengths, noise=noise)
    value, dH, grads, n_counted = head_loss_and_gradient(
        spec, params, H, Y, mask, lengths=lengths, loss=loss, pooling=pooling)
    recurrent, _, _ = backprop_network(spec, params, cache, dH)
    grads.update(recurrent)
    return value, {name: grads[name] for name in params}, final_state, n_counted


def score(loss, outputs, Y, weights):
    """Validation score of outputs against targets over the weighted steps (or sequences).

    ``"squared_error"``: the coefficient of determination R^2, averaged over
    outputs. ``"log_loss"``: the accuracy of the predicted classes.
    """
    xp = get_namespace(outputs)
    count = float(xp.sum(weights))
    if loss == "log_loss":
        if outputs.shape[-1] == 1:
            right = xp.astype(outputs[..., 0] > 0, outputs.dtype) == Y[..., 0]
        else:
            right = xp.argmax(outputs, axis=-1) == xp.argmax(Y, axis=-1)
        return float(xp.sum(xp.astype(right, outputs.dtype) * weights)) / count
    w = weights[..., None]
    mean = xp.sum(w * Y, axis=tuple(range(Y.ndim - 1))) / count
    sse = xp.sum(w * (outputs - Y) ** 2, axis=tuple(range(Y.ndim - 1)))
    sst = xp.sum(w * (Y - mean) ** 2, axis=tuple(range(Y.ndim - 1)))
    scores = []
    for j in range(Y.shape[-1]):
        e, s = float(sse[j]), float(sst[j])
        scores.append(1.0 - e / s if s > 0 else (1.0 if e == 0 else 0.0))
    return sum(scores) / len(scores)
