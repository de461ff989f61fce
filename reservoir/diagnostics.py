"""Diagnostics of recurrent networks: how far back in time their dynamics reach.

Each function takes a model (fitted or not) and data, and returns plain
NumPy arrays ready to plot.
"""

from __future__ import annotations

import numpy as np

from ._backend import device_kwargs, to_namespace, to_numpy
from ._validation import check_generator, check_interval, validate_series

__all__ = ["echo_state_property", "gradient_norm_by_lag"]


def gradient_norm_by_lag(model, X, y, *, max_lag=None, layer=-1, clip_norm=None):
    """Norm of the gradient that reaches the hidden state, against the time lag.

    For a gradient-trained recurrent network and a loss at the last step T
    of a series, L_T = ||y_hat(T) - y(T)||^2 / 2, this returns
    ||dL_T / dh(T - lag)|| for lag = 0 .. max_lag, averaged over series.
    Backpropagation through time multiplies one Jacobian per step back, for
    an Elman network diag(1 - h(j)^2) W_hh, so this norm typically changes
    geometrically with the lag: it vanishes when the Jacobians shrink (Bengio,
    Simard & Frasconi 1994) and explodes when they grow, as with recurrent
    weights of spectral radius above 1 before the units saturate (Pascanu,
    Mikolov & Bengio 2013). The additive cell-state path of an LSTM can
    carry it much further (Hochreiter & Schmidhuber 1997), and each unit of
    an IndRNN has its own rate, its recurrent weight. Plot ``norms`` on a log
    scale against ``lags``.

    Gradient-norm clipping (the estimators' ``clip_norm``) rescales the whole
    weight gradient of a step when its norm exceeds the threshold: it bounds
    the size of an update made from exploding gradients, without changing
    how the contributions of different lags compare. With ``clip_norm``
    given, the norms are reported as such a clipped step sees them, all
    multiplied by min(1, clip_norm / ||dL/dθ||), where dL/dθ is the gradient
    of the same loss with respect to every weight.

    Parameters
    ----------
    model : ElmanRegressor, LSTMRegressor, GRURegressor or IndRNNRegressor
        Fitted, or not: an unfitted model is measured at the initial weights
        that ``fit`` would start from with its ``random_state`` (the model
        itself is left unchanged).
    X : array-like of shape (n_timesteps, n_features), list of such, or
        array of shape (n_series, n_timesteps, n_features)
        Inputs, run from the zero state. Several series average the norms.
    y : array-like, aligned step by step with X
        Targets; only each series' last step enters the loss.
    max_lag : int, optional
        Largest lag; at most (and by default) the shortest series' length - 1.
    layer : int, default=-1
        Which layer's hidden state h is differentiated against (-1: the top
        layer, next to the readout). The gradient counts every path from
        h(k) to the loss, through time and through the layers above.
    clip_norm : float or None, default=None
        Report the norms after global-norm clipping at this threshold (see
        above), the loss summed over the series as one step would sum it.

    Returns
    -------
    lags : ndarray of shape (max_lag + 1,)
        0, 1, ..., max_lag.
    norms : ndarray of shape (max_lag + 1,)
        Mean over series of the Euclidean norm of dL_T/dh(T - lag).

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.rnn import ElmanRegressor
    >>> from reservoir.diagnostics import gradient_norm_by_lag
    >>> rng = np.random.default_rng(0)
    >>> X = rng.uniform(-1, 1, (8, 30, 1))
    >>> lags, norms = gradient_norm_by_lag(ElmanRegressor(n_units=16, random_state=0), X, X)
    >>> lags.shape, norms.shape
    ((30,), (30,))
    >>> bool(norms[20] < norms[0])
    True
    >>> exploding = ElmanRegressor(n_units=16, spectral_radius=3.0, random_state=0)
    >>> _, raw = gradient_norm_by_lag(exploding, X, X)
    >>> _, clipped = gradient_norm_by_lag(exploding, X, X, clip_norm=1.0)
    >>> bool(raw[-1] > 100 * raw[0]), bool(np.allclose(clipped / raw, clipped[0] / raw[0]))
    (True, True)
    """
    if not hasattr(model, "state_gradient_norms"):
        raise TypeError(
            "model must be an ElmanRegressor, LSTMRegressor, GRURegressor or IndRNNRegressor, "
            f"got {type(model).__name__}"
        )
    per_step, lengths = model.state_gradient_norms(X, y, layer=layer, clip_norm=clip_norm)
    shortest = min(lengths)
    if max_lag is None:
        max_lag = shortest - 1
    check_interval("max_lag", max_lag, low=0, high=shortest - 1, integer=True)
    norms = np.stack([per_step[b, n - 1 - np.arange(max_lag + 1)] for b, n in enumerate(lengths)])
    return np.arange(max_lag + 1), norms.mean(axis=0)


def echo_state_property(estimator, X, *, n_initial_states=5, state_scale=1.0, threshold=1e-8,
                        random_state=None):
    """Check on data whether a fitted reservoir forgets its initial state.

    A reservoir has the echo state property when its state is eventually a
    function of the input history alone (Jaeger 2001; Yildiz, Jaeger & Kiebel
    2012): runs from different initial states, driven by the same input,
    converge. This runs the reservoir of ``estimator`` over ``X`` from
    ``n_initial_states`` random initial states, uniform on
    [-state_scale, state_scale], and measures the largest distance between
    any run and the first one at every step. A spectral radius below 1 is
    neither necessary nor sufficient for convergence with a given input;
    this measures it.

    Parameters
    ----------
    estimator : fitted ReservoirTransformer, ESNRegressor or ESNClassifier
        Output feedback, if any, is left out: the reservoir is driven by X
        alone.
    X : array-like of shape (n_timesteps, n_features)
        The driving input.
    n_initial_states : int, default=5
    state_scale : float, default=1.0
    threshold : float, default=1e-8
        Distance below which two runs count as converged.
    random_state : int, numpy.random.Generator or None

    Returns
    -------
    converged : bool
        Whether the distance ends below ``threshold``.
    forgetting_time : int or None
        First step from which the distance stays below ``threshold``: a
        lower bound for a sensible washout. None if it never does.
    distance : ndarray of shape (n_timesteps,)
        Largest Euclidean distance to the first run, step by step.

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import ReservoirTransformer
    >>> from reservoir.diagnostics import echo_state_property
    >>> u = np.random.default_rng(0).uniform(-1, 1, (500, 1))
    >>> tr = ReservoirTransformer(n_units=100, spectral_radius=0.9, random_state=0).fit(u)
    >>> converged, forgetting_time, distance = echo_state_property(tr, u, random_state=0)
    >>> converged, forgetting_time < 500
    (True, True)
    """
    from sklearn.utils.validation import check_is_fitted

    check_is_fitted(estimator)
    reservoir = getattr(estimator, "reservoir_", None)
    if reservoir is None:
        raise TypeError(
            "estimator must be a fitted reservoir estimator (with reservoir_), "
            f"got {type(estimator).__name__}"
        )
    check_interval("n_initial_states", n_initial_states, low=2, integer=True)
    check_interval("state_scale", state_scale, low=0, low_inclusive=False)
    check_interval("threshold", threshold, low=0, low_inclusive=False)
    batch, _, _ = validate_series(estimator, X, None, reset=False, dtype=estimator.dtype,
                                  require_y=False)
    if batch.layout != "single":
        raise ValueError("X must be one series of shape (n_timesteps, n_features)")
    xp = batch.xp
    rng = check_generator(random_state)
    x0 = rng.uniform(-state_scale, state_scale, (n_initial_states, reservoir.n_units))
    x0 = to_namespace(x0, xp, dtype=batch.data.dtype, **device_kwargs(batch.data, xp))
    inputs = xp.broadcast_to(batch.data, (n_initial_states,) + tuple(batch.data.shape[1:]))
    distances = []
    for _, S in reservoir.iter_states(inputs, x0):
        gap = S - S[0:1, ...]
        distances.append(to_numpy(xp.max(xp.sqrt(xp.sum(gap * gap, axis=2)), axis=0)))
    distance = np.concatenate(distances)
    above = np.nonzero(distance >= threshold)[0]
    forgetting_time = 0 if above.size == 0 else int(above[-1]) + 1
    converged = forgetting_time < distance.shape[0]
    return converged, (forgetting_time if converged else None), distance
