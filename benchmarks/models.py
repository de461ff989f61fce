"""The models compared by the suite, each behind the interface of ``ESNRegressor``.

Every model offers ``fit(X, y)`` (one step ahead, X and y aligned step by
step), ``predict(X)`` (teacher forced, from the zero state) and
``forecast(n_steps, context=contexts)`` (closed loop after each of a batch of
teacher-forced contexts, array of shape (n_windows, n_context, n_features)).

* ``esn``: :class:`reservoir.ESNRegressor` with the tuned configuration of
  ``configs/<task>.json``; on the spatially extended systems (Lorenz-96,
  Kuramoto-Sivashinsky) the same reservoir is used as a :class:`LocalESN`.
* ``elman``, ``lstm``, ``gru``: :mod:`reservoir.rnn`, trained by
  backpropagation through time with the budgets of :data:`RNN_SETTINGS`.
* ``reservoirpy``: :class:`ReservoirPyESN`, the outside reference, only when
  ``import reservoirpy`` works.
"""

from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np

from reservoir import ESNRegressor
from reservoir.rnn import ElmanRegressor, GRURegressor, LSTMRegressor

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

RNN_CLASSES = {"elman": ElmanRegressor, "lstm": LSTMRegressor, "gru": GRURegressor}
ALL_MODELS = ("esn", "elman", "lstm", "gru", "reservoirpy")

# Budgets of the gradient-trained networks. They are trained by full BPTT on
# windows of ``sequence_length`` steps in NumPy, which costs about 0.1 s
# (Elman) to 0.5 s (LSTM) per epoch of 10 000 steps with 64 units on one
# core of the reference machine: ``quick`` only checks that they run, ``full``
# gives them a budget that is 100 times the ESN's training time and more.
RNN_SETTINGS = {
    "quick": dict(n_units=32, washout=10, sequence_length=100, batch_size=32, max_iter=8,
                  learning_rate_init=3e-3, n_iter_no_change=1000),
    "full": dict(n_units=64, washout=10, sequence_length=100, batch_size=32, max_iter=100,
                 learning_rate_init=3e-3, learning_rate="cosine", n_iter_no_change=20, tol=1e-6),
}


def reservoirpy_available():
    try:
        import reservoirpy  # noqa: F401
    except ImportError:
        return False
    return True


@cache
def _read_config(name):
    path = CONFIG_DIR / f"{name}.json"
    if not path.exists():
        raise FileNotFoundError(f"no stored configuration {path}; run python -m benchmarks.search")
    return json.loads(path.read_text())


def load_config(task, model="esn"):
    """The stored configuration of ``model`` for ``task`` (``configs/<task>[_<model>].json``)."""
    return _read_config(task if model == "esn" else f"{task}_{model}")


def esn_params(task, mode, model="esn"):
    """Constructor arguments of the tuned model for ``task`` in ``mode``."""
    config = load_config(task, model)
    params = dict(config["params"])
    params.update(config.get("quick_overrides", {}) if mode == "quick" else {})
    return params


# --------------------------------------------------------------------------
# Local reservoirs with shared weights (spatially extended systems)
# --------------------------------------------------------------------------

def local_inputs(series, locality):
    """Neighbourhoods of every site on a ring: (..., T, D) -> (..., D, T, 2 locality + 1)."""
    D = series.shape[-1]
    idx = (np.arange(D)[:, None] + np.arange(-locality, locality + 1)[None, :]) % D
    out = series[..., idx]                      # (..., T, D, 2l+1)
    return np.moveaxis(out, -2, -3)             # (..., D, T, 2l+1)


class LocalESN:
    """One reservoir per site of a ring, all with the same weights, coupled by their inputs.

    The parallel scheme of Pathak et al. (2018): the reservoir of site i sees
    the sites i - locality .. i + locality and predicts site i one step
    ahead; in closed loop every site's prediction feeds its neighbours'
    reservoirs at the next step. The Lorenz-96 and Kuramoto-Sivashinsky
    equations are the same at every site (translation invariance on a
    periodic domain), so the reservoirs share one set of weights and one
    readout, trained on every site at once: :class:`reservoir.ESNRegressor`
    fitted on D series (one per site) of local inputs.

    The closed loop couples the sites at every step, which
    ``ESNRegressor.forecast`` cannot do; it is run here from the fitted
    estimator's documented attributes (``W_``, ``W_in_``, ``bias_``,
    ``leak_rate`` and ``readout_``), with the update rule of the estimator's
    docstring. ``fit`` checks that this loop reproduces the estimator's own
    ``predict``.
    """

    def __init__(self, *, locality, input_noise=0.0, xp=np, **esn_params):
        self.locality = locality
        self.input_noise = input_noise
        self.xp = xp
        self.esn = ESNRegressor(**esn_params)

    def fit(self, X, y):
        X = np.asarray(_host(X))
        if self.input_noise:
            # Noisy inputs, clean targets: the readout learns to pull perturbed
            # states back, which keeps the closed loop stable (Vlachas et al. 2020).
            rng = np.random.default_rng(self.esn.random_state)
            X = X + self.input_noise * rng.standard_normal(X.shape)
        U = local_inputs(X, self.locality)                       # (D, T, F)
        Y = np.moveaxis(np.asarray(_host(y)), -1, 0)[:, :, None]  # (D, T, 1)
        self.esn.fit(U, Y)
        self._prepare()
        self._check_against_predict(U[:2, :50])
        return self

    def _prepare(self):
        xp = self.xp
        esn = self.esn
        self._W = esn.W_
        if xp is not np:
            import cupyx.scipy.sparse as cusparse

            self._W = cusparse.csr_matrix(esn.W_) if hasattr(esn.W_, "tocsr") else xp.asarray(esn.W_)
        self._W_in_t = xp.asarray(np.ascontiguousarray(np.asarray(esn.W_in_).T))
        self._bias = xp.asarray(esn.bias_)
        coef = np.asarray(esn.readout_.coef_).reshape(1, -1)
        self._coef = xp.asarray(coef.T)
        self._intercept = float(np.ravel(esn.readout_.intercept_)[0])
        features = esn.readout_features
        self._features = (features,) if isinstance(features, str) else tuple(features)
        self._n_features = 2 * self.locality + 1

    def _step(self, x, u):
        """Next states of a batch (B, N) driven by inputs (B, F); returns (x, y)."""
        xp = self.xp
        a = self.esn.leak_rate
        pre = (self._W @ x.T).T + u @ self._W_in_t + self._bias
        x = (1 - a) * x + a * xp.tanh(pre)
        return x, self._readout(u, x)

    def _readout(self, u, x):
        parts = []
        if "input" in self._features:
            parts.append(u)
        if "state" in self._features:
            parts.append(x)
        if "squared_state" in self._features:
            parts.append(x * x)
        out = self.xp.concatenate(parts, axis=1) @ self._coef
        return out[:, 0] + (self._intercept if "constant" in self._features else 0.0)

    def _check_against_predict(self, U):
        if self.esn.activation != "tanh" or self.esn.feedback_scaling is not None:
            raise ValueError("LocalESN supports tanh reservoirs without output feedback")
        expected = self.esn.predict(U)[..., 0]
        xp = self.xp
        x = xp.zeros((U.shape[0], self.esn.n_units))
        got = []
        for t in range(U.shape[1]):
            x, y = self._step(x, xp.asarray(U[:, t, :]))
            got.append(y)
        got = np.asarray(_host(xp.stack(got, axis=1)))
        if not np.allclose(got, expected, rtol=1e-6, atol=1e-8):
            raise RuntimeError("LocalESN's closed loop does not reproduce ESNRegressor.predict")

    def forecast(self, n_steps, *, context):
        xp = self.xp
        context = np.asarray(_host(context))
        n_windows, n_context, D = context.shape
        N = self.esn.n_units
        # Teacher-forced run over every context row but the last, which the
        # loop feeds in as it feeds its own predictions afterwards.
        U = local_inputs(context[:, :-1, :], self.locality).reshape(n_windows * D, n_context - 1, -1)
        x = xp.zeros((n_windows * D, N))
        for t in range(n_context - 1):
            x, _ = self._step(x, xp.asarray(U[:, t, :]))
        y = xp.asarray(context[:, -1, :])
        out = xp.empty((n_windows, n_steps, D))
        for k in range(n_steps):
            u = _local_step_inputs(y, self.locality, xp)
            x, y_flat = self._step(x, u)
            y = y_flat.reshape(n_windows, D)
            out[:, k, :] = y
        return out

    def predict(self, X):
        U = local_inputs(np.asarray(X), self.locality)
        return np.moveaxis(np.asarray(_host(self.esn.predict(U)))[..., 0], 0, -1)


def _local_step_inputs(y, locality, xp):
    D = y.shape[-1]
    idx = (np.arange(D)[:, None] + np.arange(-locality, locality + 1)[None, :]) % D
    return y[:, xp.asarray(idx)].reshape(y.shape[0] * D, -1)


def _host(a):
    return a.get() if hasattr(a, "get") and not isinstance(a, np.ndarray) else a


# --------------------------------------------------------------------------
# ReservoirPy, the outside reference
# --------------------------------------------------------------------------

class ReservoirPyESN:
    """An echo state network built with ReservoirPy's documented nodes.

    ``Reservoir`` (leaky tanh units, normal recurrent weights rescaled to
    ``sr``, dense uniform input weights, a uniform bias) feeding a ``Ridge``
    readout together with the input (``[source, source >> reservoir] >>
    readout``), trained with ``Model.fit(X, y, warmup=washout)``. Closed loop:
    the model is reset, run over each context (teacher forced), then stepped
    on its own predictions with ``Model.step``, one window after the other,
    as ReservoirPy's generative-mode examples do.

    The parameters are named as in :class:`reservoir.ESNRegressor` and
    translated: n_units -> units, spectral_radius -> sr, leak_rate -> lr,
    density -> rc_connectivity, alpha -> ridge, bias_scaling -> bias uniform
    on [-b, b], input_scaling -> Win uniform on [-s, s].
    """

    def __init__(self, *, n_units, spectral_radius, leak_rate, input_scaling, bias_scaling, alpha,
                 washout, density=None, random_state=None, **ignored):
        self.params = dict(n_units=n_units, spectral_radius=spectral_radius, leak_rate=leak_rate,
                           input_scaling=input_scaling, bias_scaling=bias_scaling, alpha=alpha,
                           washout=washout, density=density, random_state=random_state)

    def _build(self):
        from reservoirpy import mat_gen
        from reservoirpy.nodes import Input, Reservoir, Ridge

        p = self.params
        density = p["density"] if p["density"] is not None else min(1.0, 10.0 / p["n_units"])
        b = float(p["bias_scaling"])
        self.reservoir = Reservoir(
            units=p["n_units"], sr=p["spectral_radius"], lr=p["leak_rate"],
            input_scaling=p["input_scaling"], rc_connectivity=density, input_connectivity=1.0,
            Win=mat_gen.uniform, W=mat_gen.normal,
            bias=mat_gen.uniform(low=-b, high=b) if b > 0 else 0.0, seed=p["random_state"],
        )
        self.readout = Ridge(ridge=p["alpha"])
        source = Input()
        self.model = [source, source >> self.reservoir] >> self.readout

    def fit(self, X, y):
        self._build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model.fit(np.asarray(X), np.asarray(y), warmup=int(self.params["washout"]))
        return self

    def _reset(self):
        for node in self.model.nodes:
            if hasattr(node, "reset"):
                node.reset()

    def predict(self, X):
        self._reset()
        return np.asarray(self.model.run(np.asarray(X)))

    def forecast(self, n_steps, *, context):
        context = np.asarray(_host(context))
        out = np.empty((context.shape[0], n_steps, context.shape[2]))
        for w, ctx in enumerate(context):
            self._reset()
            if ctx.shape[0] > 1:
                self.model.run(ctx[:-1])
            y = ctx[-1]
            for k in range(n_steps):
                y = np.asarray(self.model.step(y)).reshape(-1)
                out[w, k] = y
        return out

    def states(self, X):
        """Reservoir states over X from the zero state (for the memory capacity)."""
        self._build()
        return np.asarray(self.reservoir.run(np.asarray(X)))


# --------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------

def make_model(name, task, *, mode, seed, xp=np, overrides=None):
    """A fresh, unfitted model ``name`` for ``task``, seeded with ``seed``.

    ``overrides`` replaces constructor arguments of the reservoir models
    (the protocol's spin-up, for instance, or a candidate of the search).
    Returns ``(model, params)``: the model and the arguments that built it.
    """
    overrides = dict(overrides or {})
    if name == "esn":
        config = load_config(task)
        params = esn_params(task, mode)
        params.update(overrides)
        params["random_state"] = seed
        locality = params.pop("locality", config.get("locality"))
        input_noise = params.pop("input_noise", config.get("input_noise", 0.0))
        if locality is not None:
            model = LocalESN(locality=locality, input_noise=input_noise, xp=xp, **params)
            return model, {"locality": locality, "input_noise": input_noise, **params}
        return ESNRegressor(**params), params
    if name in RNN_CLASSES:
        params = dict(RNN_SETTINGS[mode])
        params.update(load_config(task).get("rnn_overrides", {}).get(mode, {}))
        params["random_state"] = seed
        return RNN_CLASSES[name](**params), params
    if name == "reservoirpy":
        if not reservoirpy_available():
            raise RuntimeError("reservoirpy is not installed: pip install reservoirpy")
        params = esn_params(task, mode, model="reservoirpy")
        params.update(overrides)
        params["random_state"] = seed
        return ReservoirPyESN(**params), params
    raise ValueError(f"unknown model {name!r}; expected one of {ALL_MODELS}")
