"""The models compared by the suite: scikit-learn estimators with a closed-loop ``forecast``.

Every model is a scikit-learn estimator (``clone`` and ``set_params`` work,
so searches can tune it) and offers ``fit(X, y)`` (one step ahead, X and y
aligned step by step), ``predict(X)`` (teacher forced, from the zero state)
and ``forecast(n_steps, context=contexts)`` (closed loop after each of a
batch of teacher-forced contexts, array of shape (n_windows, n_context,
n_features)). The reservoir models and the RNNs follow the namespace of the
data they are given (NumPy, or CuPy arrays on a GPU).

* ``esn``: :class:`reservoir.ESNRegressor` with the tuned configuration of
  ``configs/<task>.json``; on the spatially extended systems (Lorenz-96,
  Kuramoto-Sivashinsky), whose configuration has a ``locality``, the same
  reservoir runs as :class:`reservoir.ParallelESNRegressor`, one reservoir
  per site with shared weights.
* ``elman``, ``lstm``, ``gru``: :mod:`reservoir.rnn`, trained by
  backpropagation through time with the budgets of :data:`RNN_SETTINGS`.
* ``nvar``: :class:`reservoir.NVARRegressor`, next-generation reservoir
  computing, with ``configs/<task>_nvar.json`` (the NG-RC protocol tasks).
* ``reservoirpy``: :class:`ReservoirPyESN`, the outside reference, only when
  ``import reservoirpy`` works.

The classifiers of the JapaneseVowels task (``bidirectional``, ``deep``,
``ensemble`` and the ESN and RNN classifiers) are built by
:func:`benchmarks.classification.make_classifier`.
"""
from __future__ import annotations

import json
import warnings
from functools import cache
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator

from reservoir import ESNRegressor, NVARRegressor, ParallelESNRegressor
from reservoir.rnn import ElmanRegressor, GRURegressor, LSTMRegressor

CONFIG_DIR = Path(__file__).resolve().parent / "configs"

RNN_CLASSES = {"elman": ElmanRegressor, "lstm": LSTMRegressor, "gru": GRURegressor}
ALL_MODELS = ("esn", "nvar", "bidirectional", "deep", "ensemble", "elman", "lstm", "gru",
              "reservoirpy")

# Tasks that share another task's stored configurations: the NG-RC protocol
# on Euler data runs the models chosen for it on accurate data, unchanged.
CONFIG_TASK = {"lorenz63_ngrc_euler": "lorenz63_ngrc"}

# Budgets of the gradient-trained networks. They are trained by full BPTT on
# windows of ``sequence_length`` steps in NumPy, which costs about 0.1 s
# (Elman) to 0.5 s (LSTM) per epoch of 10 000 steps with 64 units on one
# core of the reference machine: ``quick`` only checks that they run, ``full``
# gives them a budget that is 100 times the ESN's training time and more.
# ``window_stride`` keeps the windows these budgets and the documented results
# were measured with (consecutive windows overlapping by the washout); the
# estimators' default overlaps them four times as much, which costs about four
# times as much per epoch.
RNN_SETTINGS = {
    "quick": dict(n_units=32, washout=10, sequence_length=100, window_stride=90, batch_size=32,
                  max_iter=8, learning_rate_init=3e-3, n_iter_no_change=1000),
    "full": dict(n_units=64, washout=10, sequence_length=100, window_stride=90, batch_size=32,
                 max_iter=100, learning_rate_init=3e-3, learning_rate="cosine",
                 n_iter_no_change=20, tol=1e-6),
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
    task = CONFIG_TASK.get(task, task)
    return _read_config(task if model == "esn" else f"{task}_{model}")


def esn_params(task, mode, model="esn"):
    """Constructor arguments of the tuned model for ``task`` in ``mode``."""
    config = load_config(task, model)
    params = dict(config["params"])
    params.update(config.get("quick_overrides", {}) if mode == "quick" else {})
    return params


# --------------------------------------------------------------------------
# ReservoirPy, the outside reference
# --------------------------------------------------------------------------

class ReservoirPyESN(BaseEstimator):
    """An echo state network built with ReservoirPy's documented nodes.

    ``Reservoir`` (leaky tanh units, normal recurrent weights rescaled to
    ``sr``, dense uniform input weights, a uniform bias) feeding a ``Ridge``
    readout together with the input (``[source, source >> reservoir] >>
    readout``), trained with ``Model.fit(X, y, warmup=washout)``. Closed loop:
    the model is reset, run over each context (teacher forced), then stepped
    on its own predictions with ``Model.step``, one window after the other,
    as ReservoirPy's generative-mode examples do. NumPy only.

    The parameters are named as in :class:`reservoir.ESNRegressor` and
    translated: n_units -> units, spectral_radius -> sr, leak_rate -> lr,
    density -> rc_connectivity (by default 10 connections per unit, as in
    ESNRegressor), alpha -> ridge, bias_scaling -> bias uniform on [-b, b],
    input_scaling -> Win uniform on [-s, s], random_state -> seed.

    Attributes
    ----------
    reservoir_, readout_, model_ : ReservoirPy's ``Reservoir``, ``Ridge`` and
        ``Model``, fitted.
    """

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
                 bias_scaling=0.5, alpha=1e-6, washout=0, density=None, random_state=None):
        self.n_units = n_units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.bias_scaling = bias_scaling
        self.alpha = alpha
        self.washout = washout
        self.density = density
        self.random_state = random_state

    def _build(self):
        """Fresh ReservoirPy nodes: (reservoir, readout, model)."""
        from reservoirpy import mat_gen
        from reservoirpy.nodes import Input, Reservoir, Ridge

        density = self.density if self.density is not None else min(1.0, 10.0 / self.n_units)
        b = float(self.bias_scaling)
        reservoir = Reservoir(
            units=self.n_units, sr=self.spectral_radius, lr=self.leak_rate,
            input_scaling=self.input_scaling, rc_connectivity=density, input_connectivity=1.0,
            Win=mat_gen.uniform, W=mat_gen.normal,
            bias=mat_gen.uniform(low=-b, high=b) if b > 0 else 0.0, seed=self.random_state,
        )
        readout = Ridge(ridge=self.alpha)
        source = Input()
        return reservoir, readout, [source, source >> reservoir] >> readout

    def fit(self, X, y):
        self.reservoir_, self.readout_, self.model_ = self._build()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            self.model_.fit(np.asarray(X), np.asarray(y), warmup=int(self.washout))
        return self

    def _reset(self):
        for node in self.model_.nodes:
            if hasattr(node, "reset"):
                node.reset()

    def predict(self, X):
        self._reset()
        return np.asarray(self.model_.run(np.asarray(X)))

    def forecast(self, n_steps, *, context):
        context = np.asarray(context)
        out = np.empty((context.shape[0], n_steps, context.shape[2]))
        for w, ctx in enumerate(context):
            self._reset()
            if ctx.shape[0] > 1:
                self.model_.run(ctx[:-1])
            y = ctx[-1]
            for k in range(n_steps):
                y = np.asarray(self.model_.step(y)).reshape(-1)
                out[w, k] = y
        return out

    def states(self, X):
        """Reservoir states over X from the zero state, on fresh weights (for the memory capacity)."""
        reservoir, _, _ = self._build()
        return np.asarray(reservoir.run(np.asarray(X)))


# --------------------------------------------------------------------------
# Factory
# --------------------------------------------------------------------------

def make_model(name, task, *, mode, seed, overrides=None):
    """A fresh, unfitted scikit-learn estimator ``name`` for ``task``, seeded with ``seed``.

    ``overrides`` replaces constructor arguments of the reservoir models
    (the protocol's spin-up, for instance, or a candidate of the search,
    ``locality`` and ``input_noise`` included). The ESN of a task whose
    configuration has a ``locality`` is a :class:`reservoir.ParallelESNRegressor`
    with one reservoir per site and shared weights, on a periodic domain.
    Returns ``(model, params)``: the model and the arguments that built it.
    """
    overrides = dict(overrides or {})
    if task == "japanese_vowels":
        from .classification import make_classifier

        return make_classifier(name, mode=mode, seed=seed)
    if name == "esn":
        config = load_config(task)
        params = esn_params(task, mode)
        for key in ("locality", "input_noise"):
            if key in config:
                params[key] = config[key]
        params.update(overrides)
        params["random_state"] = seed
        if params.get("locality") is not None:
            # One reservoir per site of the ring, the same at every site: the
            # equations are translation invariant on the periodic domain.
            scheme = dict(n_groups=None, shared_weights=True, boundary="periodic")
            return ParallelESNRegressor(**{**scheme, **params}), params
        params.pop("locality", None)
        return ESNRegressor(**params), params
    if name in RNN_CLASSES:
        params = dict(RNN_SETTINGS[mode])
        params.update(load_config(task).get("rnn_overrides", {}).get(mode, {}))
        params["random_state"] = seed
        return RNN_CLASSES[name](**params), params
    if name == "nvar":
        params = dict(load_config(task, "nvar")["params"])
        params.update(overrides)
        return NVARRegressor(**params), params
    if name == "reservoirpy":
        if not reservoirpy_available():
            raise RuntimeError("reservoirpy is not installed: pip install reservoirpy")
        params = esn_params(task, mode, model="reservoirpy")
        params.update(overrides)
        params["random_state"] = seed
        return ReservoirPyESN(**params), params
    raise ValueError(f"unknown model {name!r}; expected one of {ALL_MODELS}")
