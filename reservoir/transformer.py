"""Reservoir states as features for any scikit-learn model."""

from __future__ import annotations

import numpy as np
from sklearn.base import TransformerMixin
from sklearn.utils.validation import check_is_fitted

from ._backend import host_blas_policy
from ._esn_base import COMMON_TAIL_DOC, RESERVOIR_PARAMS_DOC, ReservoirEstimatorBase
from ._rows import StepCollector
from ._validation import check_generator, validate_series
from .readout import readout_features

__all__ = ["ReservoirTransformer"]


class ReservoirTransformer(TransformerMixin, ReservoirEstimatorBase):
    __doc__ = f"""Reservoir states as features: a fixed random recurrent network.

    ``fit`` draws the weights for the number of input features and runs the
    leaky-integrator reservoir

        x(t) = (1 - a) x(t-1) + a f(W x(t-1) + W_in u(t) + b)

    over X, to know where the fitted data ends; ``transform`` runs it over
    the rows of X (time steps) and returns the states, one row per time
    step, ready for any scikit-learn regressor or classifier. Works on
    NumPy, CuPy and Array-API arrays; the output stays in the input's
    namespace.

    A run from the zero state leaves out the first ``washout`` steps of
    each series (their states still depend on the zero start); a run from a
    given state, or from the end of the fitted data with
    ``initial_state="continue"``, returns every step. In a
    :class:`~sklearn.pipeline.Pipeline` with a supervised step, keep
    ``washout=0`` (a pipeline cannot drop target rows) or use
    :class:`reservoir.ESNRegressor`, whose washout applies to the targets too.

    Parameters
    ----------{RESERVOIR_PARAMS_DOC}
    washout : int, default=0
        Steps at the start of each series (from the zero state) left out of
        the output.
    include_input : bool, default=False
        Return [u(t), x(t)] instead of x(t).
{COMMON_TAIL_DOC}
    Attributes
    ----------
    reservoir_ : Reservoir
        The fixed dynamical system (weights on the host, run on any backend).
    W_ : ndarray or scipy.sparse.csr_array of shape (n_units, n_units)
        Recurrent weights (host).
    W_in_ : ndarray or scipy.sparse.csr_array of shape (n_units, ``n_features_in_``)
    bias_ : ndarray of shape (n_units,)
    final_state_ : array of shape (n_units,), or (n_series, n_units)
        The state after the last step of the fitted data.
    n_features_in_ : int
    feature_names_in_ : ndarray of str, only when X had string column names

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import ReservoirTransformer
    >>> X = np.sin(np.linspace(0, 20, 300))[:, None]
    >>> states = ReservoirTransformer(n_units=50, random_state=0).fit_transform(X)
    >>> states.shape
    (300, 50)
    """

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
                 bias_scaling=0.5, density=None, in_degree=None, input_density=1.0,
                 topology="random", distribution="normal", activation="tanh", washout=0,
                 include_input=False, random_state=None, dtype="float64"):
        self.n_units = n_units
        self.spectral_radius = spectral_radius
        self.leak_rate = leak_rate
        self.input_scaling = input_scaling
        self.bias_scaling = bias_scaling
        self.density = density
        self.in_degree = in_degree
        self.input_density = input_density
        self.topology = topology
        self.distribution = distribution
        self.activation = activation
        self.washout = washout
        self.include_input = include_input
        self.random_state = random_state
        self.dtype = dtype

    def _check_params(self):
        super()._check_params()
        if not isinstance(self.include_input, (bool, np.bool_)):
            raise TypeError(f"include_input must be a bool, got {self.include_input!r}")

    def _features(self):
        return ("input", "state") if self.include_input else ("state",)

    def _states(self, batch, x0):
        """Padded (n_series, max_length, F) outputs and the state after each series' end."""
        xp = batch.xp
        res = self.reservoir_
        final = StepCollector(np.asarray(batch.lengths) - 1)
        chunks = []
        for t0, S in res.iter_states(batch.data, x0):
            final.update(S, t0, xp)
            chunks.append(readout_features(batch.data[:, t0:t0 + S.shape[1], :], S, self._features()))
        out = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1)
        return out, final.result(xp)

    def _fit(self, X):
        self._validate_reservoir_params()
        batch, _, _ = validate_series(self, X, None, reset=True, dtype=self.dtype, require_y=False,
                                      min_length=self.washout + 1)
        self._draw_reservoir(self.n_features_in_, check_generator(self.random_state))
        out, final = self._states(batch, None)
        self._final_state = final
        self._fit_layout = batch.layout
        self._one_step_ahead = False
        self.final_state_ = final[0, ...] if batch.layout == "single" else final
        return batch, out

    @host_blas_policy
    def fit(self, X, y=None):
        """Draw the reservoir's weights for X's number of features and run it over X.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such
            (1-D items are one feature), or an array of shape
            (n_series, n_timesteps, n_features)
        y : ignored

        Returns
        -------
        self
        """
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        """Fit and return the states of X from the zero state, in one run."""
        batch, out = self._fit(X)
        return batch.restore(out, start=self.washout)

    @host_blas_policy
    def transform(self, X, *, initial_state=None):
        """Run the reservoir over X and return its states.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), list of such, or
            array of shape (n_series, n_timesteps, n_features)
        initial_state : None, "continue", or array of shape (n_units,) or
            (n_series, n_units)
            State before the first step: zeros when None (the first
            ``washout`` steps of each series are then left out); "continue"
            starts from the end of the fitted data, so that
            ``transform(X2, initial_state="continue")`` after ``fit(X1)``
            equals the rows of X2 in the transform of X1 followed by X2.

        Returns
        -------
        states : array of shape (n_timesteps - washout, n_units) (or with
            n_features + n_units columns with ``include_input``), in X's
            layout and namespace
        """
        check_is_fitted(self)
        batch, _, _ = validate_series(self, X, None, reset=False, dtype=self.dtype, require_y=False,
                                      min_length=self.washout + 1 if initial_state is None else 1)
        x0 = self._continue_state(initial_state, batch)
        out, _ = self._states(batch, x0)
        return batch.restore(out, start=self.washout if initial_state is None else 0)

    def __sklearn_is_fitted__(self):
        return hasattr(self, "reservoir_")
