"""Real-time recurrent learning: the exact gradient in forward mode (Williams & Zipser 1989).

Backpropagation through time stores a run and walks it backwards. RTRL
instead carries, alongside the state, its sensitivities S(t) = dh(t)/dθ to
every weight, updated at each step from S(t-1) by the chain rule (the cell's
``sensitivity_step``). The gradient of a loss at step t is then
dL_t/dh(t) · S(t), available at step t itself: nothing is stored but S, so a
network can learn online, updating its weights as the series arrives,
without truncating the gradient at a window's edge.

The price is S: for a fully recurrent Elman layer of n units every h_i
depends on every one of the ~n^2 weights, and advancing S multiplies it by
W_hh, O(n^4) operations per step against BPTT's O(n^2). For an IndRNN layer
each unit depends only on its own row of weights, so S holds O(n^2) numbers
and costs O(n^2) per step, the same order as the forward pass.

The gradient equals that of full BPTT over the same steps (to rounding). This
module handles one unidirectional layer of a cell with ``supports_rtrl``,
with padding, zoneout, dropout and any head of :mod:`._objectives`.
"""

from __future__ import annotations

from .._backend import device_of, get_namespace
from ._cells import StepFunctions
from ._network import _run_parameters, keep_mask, padding_mask, zero_state
from ._objectives import _LOSS_FUNCTIONS, normalizer, pool_weights

__all__ = ["check_rtrl", "rtrl_loss_and_gradient"]


def check_rtrl(spec):
    """Raise a clear error for a network that RTRL does not handle."""
    if not spec.cell.supports_rtrl:
        raise ValueError(
            f"gradient='rtrl' needs an Elman or IndRNN cell, whose sensitivities are carried "
            f"forward; this network has a {spec.cell.name} cell: use gradient='bptt'"
        )
    if spec.n_layers != 1 or spec.bidirectional:
        raise ValueError(
            "gradient='rtrl' runs one unidirectional layer (it is a forward, online method); "
            f"got n_layers={spec.n_layers}, bidirectional={spec.bidirectional}: use "
            "gradient='bptt'"
        )


def _zeros(xp, shape, like):
    return xp.zeros(shape, dtype=like.dtype, device=device_of(like))


def _per_sequence(w, ndim):
    """Index a (B,) weight to broadcast against a (B, ...) array of ``ndim`` axes."""
    return w[(slice(None),) + (None,) * (ndim - 1)]


def rtrl_loss_and_gradient(spec, params, X, Y, mask=None, state=None, *, lengths=None,
                           noise=None, loss="squared_error", pooling=None, sensitivities=None):
    """Loss of a batch and its exact gradient by real-time recurrent learning.

    Same arguments and results as
    :func:`reservoir.rnn._objectives.loss_and_gradient`, plus the
    sensitivities carried in and out.

    Parameters
    ----------
    sensitivities : dict of str to array, optional
        dh/dθ at the initial state (from the previous chunk of the same
        sequences); zero when omitted, i.e. the initial state is a constant.

    Returns
    -------
    loss : float
    grads : dict of str to array
    final_state : list of tuples of arrays
    n_counted : float
    sensitivities : dict of str to array
        dh/dθ after the last step, to carry into the next chunk.
    """
    check_rtrl(spec)
    xp = get_namespace(X)
    B, T, _ = X.shape
    cell, H, k = spec.cell, spec.n_units, spec.n_outputs
    fn = StepFunctions(xp)
    p = cell.prepare(_run_parameters(spec, params, "0"))
    in_mask = noise.input_masks[0] if noise is not None else None
    out_mask = noise.output_mask if noise is not None else None
    if in_mask is not None:
        X = X * in_mask[:, None, :]
    Zx = xp.reshape(xp.reshape(X, (B * T, -1)) @ p["W_xh"].T, (B, T, H)) + p["b_h"]
    keep = keep_mask(spec, noise, 0, padding_mask(lengths, T, X), (B, T), X)
    h = (state if state is not None else zero_state(spec, B, X))[0][0]
    shapes = cell.sensitivity_shapes(spec.n_features, H)
    S = sensitivities if sensitivities is not None else {
        name: _zeros(xp, (B,) + shape, X) for name, shape in shapes.items()}
    eye = xp.eye(H, dtype=X.dtype, device=device_of(X))
    W_hy, b_y = params["W_hy"], params["b_y"]
    grads = {name: _zeros(xp, shape, X) for name, shape in
             cell.parameter_shapes(spec.n_features, H).items()}
    grad_W_hy, grad_b_y = _zeros(xp, W_hy.shape, X), _zeros(xp, b_y.shape, X)
    loss_fn = _LOSS_FUNCTIONS[loss]
    if mask is None:
        mask = xp.ones((B, T), dtype=X.dtype, device=device_of(X))
    if pooling is None:
        n_counted = float(xp.sum(mask))
        scale = 1.0 / normalizer(loss, n_counted, k)
    else:
        weights, _ = pool_weights(spec, mask, lengths, pooling, X)
        pooled = _zeros(xp, (B, H), X)
        S_pooled = {name: xp.zeros_like(value) for name, value in S.items()}
    total = 0.0
    for t in range(T):
        (h_cell,), _ = cell.step(p, Zx[:, t, :], cell.recurrent(p, h), (h,), fn)
        kt = keep[:, t, :] if keep is not None else None
        S = cell.sensitivity_step(p, S, X[:, t, :], h, h_cell, kt, fn, xp, eye)
        h = h_cell if kt is None else h_cell + kt * (h - h_cell)
        out = h if out_mask is None else h * out_mask
        if pooling is None:
            # The loss of step t and its gradient are known at step t: this is the online part.
            value, dy = loss_fn(out @ W_hy.T + b_y, Y[:, t, :], mask[:, t])
            total += value
            dy = dy * scale
            grad_W_hy = grad_W_hy + dy.T @ out
            grad_b_y = grad_b_y + xp.sum(dy, axis=0)
            g = dy @ W_hy
            if out_mask is not None:
                g = g * out_mask
            for name, value in cell.sensitivity_gradient(S, g, xp).items():
                grads[name] = grads[name] + value
        else:
            w = weights[:, t]
            pooled = pooled + w[:, None] * out
            S_pooled = {name: S_pooled[name] + _per_sequence(w, S[name].ndim) * S[name]
                        for name in S}
    if pooling is not None:
        n_counted = float(B)
        scale = 1.0 / normalizer(loss, n_counted, k)
        ones = xp.ones((B,), dtype=X.dtype, device=device_of(X))
        total, dz = loss_fn(pooled @ W_hy.T + b_y, Y, ones)
        dz = dz * scale
        grad_W_hy, grad_b_y = dz.T @ pooled, xp.sum(dz, axis=0)
        g = dz @ W_hy
        if out_mask is not None:
            g = g * out_mask
        for name, value in cell.sensitivity_gradient(S_pooled, g, xp).items():
            grads[name] = grads[name] + value
    out = {f"{name}_0": value for name, value in grads.items()}
    out["W_hy"], out["b_y"] = grad_W_hy, grad_b_y
    return total * scale, {name: out[name] for name in params}, [(h,)], n_counted, S
