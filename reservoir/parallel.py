"""Parallel reservoirs for spatially extended systems (Pathak et al. 2018).

A field sampled at D sites (the columns of X) is split into contiguous
groups of sites. The reservoir of each group reads its own sites and
``locality`` neighbouring sites on each side, and predicts its group's
block of outputs; in closed loop the groups' predictions are assembled into
the next field, from which every group's neighbourhood is cut again, so that
neighbouring reservoirs exchange their predictions at every step.

Each group is an :class:`reservoir.ESNRegressor` fitted on its neighbourhood
series; the closed loop is :meth:`reservoir.Reservoir.generate` with a
feedback function that cuts the neighbourhoods, run on the shared reservoir
(groups as a batch) or on the block-diagonal join of the groups' reservoirs.
"""

from __future__ import annotations

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from ._backend import device_kwargs, get_namespace, resolve_dtype, to_namespace
from ._base import SequenceRegressorMixin
from ._esn_base import COMMON_TAIL_DOC, READOUT_PARAMS_DOC, RESERVOIR_PARAMS_DOC
from ._rows import rows_at
from ._validation import check_generator, check_interval, validate_series
from .esn import ESNRegressor
from .runtime import Reservoir

__all__ = ["BOUNDARIES", "ParallelESNRegressor", "neighbourhood_sites"]

BOUNDARIES = ("periodic", "zero")

# The parameters handed unchanged to every group's ESNRegressor. Input noise
# is not among them: it is added once to the whole field, so that
# overlapping neighbourhoods see the same noisy value of a shared site.
_GROUP_PARAMS = ("n_units", "spectral_radius", "leak_rate", "input_scaling", "bias_scaling",
                 "density", "in_degree", "input_density", "topology", "distribution",
                 "activation", "alpha", "washout", "readout_features", "noise_level", "dtype")


def _fit_group(estimator, X, y):
    return estimator.fit(X, y)


def _divisors(n):
    return [d for d in range(1, n + 1) if n % d == 0]


def neighbourhood_sites(n_sites, n_groups, locality, boundary="periodic"):
    """The sites each group's reservoir reads, group by group.

    Group g owns the sites g q .. (g + 1) q - 1, with q = n_sites / n_groups,
    and reads them together with ``locality`` sites on each side.

    Parameters
    ----------
    n_sites : int
    n_groups : int
        Must divide ``n_sites``.
    locality : int
    boundary : {"periodic", "zero"}
        "periodic" wraps around the ring of sites; "zero" reads zeros
        beyond the first and the last site.

    Returns
    -------
    sites : ndarray of int of shape (n_groups, n_sites / n_groups + 2 * locality)
        Column indices of X; -1 marks a zero beyond the boundary.

    Examples
    --------
    >>> from reservoir.parallel import neighbourhood_sites
    >>> neighbourhood_sites(6, 3, 1).tolist()
    [[5, 0, 1, 2], [1, 2, 3, 4], [3, 4, 5, 0]]
    >>> neighbourhood_sites(6, 3, 1, boundary="zero").tolist()
    [[-1, 0, 1, 2], [1, 2, 3, 4], [3, 4, 5, -1]]
    """
    q = n_sites // n_groups
    sites = np.arange(n_groups)[:, None] * q + np.arange(-locality, q + locality)[None, :]
    if boundary == "periodic":
        return sites % n_sites
    return np.where((sites >= 0) & (sites < n_sites), sites, -1)


class _Neighbourhoods:
    """Cuts the neighbourhoods of every group out of a field, on the field's device.

    Called on an array of shape (..., n_sites), returns (..., n_groups *
    width), the groups' neighbourhoods side by side: the input layout of the
    block-diagonal join of the groups' reservoirs. The index array is moved
    to the device once, not at every step of a closed loop.
    """

    def __init__(self, sites, like):
        xp = get_namespace(like)
        flat = sites.reshape(-1)
        self.pad = bool(np.any(flat < 0))
        n_sites = int(like.shape[-1])
        # A zero column appended after the last site stands for every site
        # beyond the boundary.
        flat = np.where(flat < 0, n_sites, flat)
        self.index = to_namespace(flat.astype(np.int64), xp, **device_kwargs(like, xp))
        self.xp = xp

    def __call__(self, field):
        xp = self.xp
        if self.pad:
            zeros = xp.zeros(tuple(field.shape[:-1]) + (1,), dtype=field.dtype,
                             **device_kwargs(field, xp))
            field = xp.concat([field, zeros], axis=field.ndim - 1)
        return xp.take(field, self.index, axis=field.ndim - 1)


class ParallelESNRegressor(SequenceRegressorMixin, RegressorMixin, BaseEstimator):
    __doc__ = f"""Parallel echo state networks for spatially extended systems.

    The parallel reservoir scheme of Pathak, Hunt, Girvan, Lu & Ott (2018,
    Phys. Rev. Lett. 120, 024102). The D columns of X are the sites of a
    one-dimensional field (a ring with ``boundary="periodic"``), split into
    ``n_groups`` contiguous groups of D / n_groups sites. The reservoir of
    group g reads its own sites and ``locality`` neighbouring sites on each
    side, and its readout predicts group g's block of the columns of y (y's
    columns are split into ``n_groups`` equal blocks, in order; one output
    per site is the usual case). Each group is an
    :class:`reservoir.ESNRegressor` (in ``estimators_``) fitted on its
    neighbourhood series.

    With ``shared_weights=True`` every group uses one reservoir and one
    readout, trained on all groups' neighbourhoods at once: the right choice
    for translation-invariant systems such as Lorenz-96 and
    Kuramoto-Sivashinsky on a periodic domain, and n_groups times less to
    train; its reservoir is the one :class:`reservoir.ESNRegressor` draws
    from the same ``random_state``. With ``shared_weights=False`` each group
    has its own reservoir (seeded by a child of ``random_state``) and
    readout.

    ``predict`` runs every group over its neighbourhood of the given inputs
    (one step ahead, teacher forced). :meth:`forecast` runs closed loop and
    couples the groups at every step: the groups' predictions form the next
    field, and each group's next input is its neighbourhood in that field,
    so predictions travel from group to group. Many small reservoirs thus
    forecast a high-dimensional field that one reservoir of the same total
    size cannot.

    The model's state is the states of the groups' reservoirs, concatenated
    group by group: ``n_groups * n_units`` values per series, the size that
    ``initial_state`` arrays and ``final_state_`` have.

    Parameters
    ----------{RESERVOIR_PARAMS_DOC}{READOUT_PARAMS_DOC}
        Here it is added to the whole field X before the neighbourhoods are
        cut, so overlapping neighbourhoods see the same noisy value of a site.
    n_groups : int, optional
        Number of groups; must divide the number of sites D. None gives one
        group per site (D groups).
    locality : int, default=1
        Neighbouring sites read on each side of a group.
    boundary : {{"periodic", "zero"}}, default="periodic"
        Beyond the first and last site: "periodic" wraps around the ring
        (the domain of Lorenz-96 and of Kuramoto-Sivashinsky), "zero" reads
        zeros.
    shared_weights : bool, default=True
        One reservoir and readout for every group (translation-invariant
        systems), or one each.
    n_jobs : int, optional
        With ``shared_weights=False``, the groups' reservoirs and readouts
        are fitted independently, in parallel with joblib (None: one at a
        time; -1: every core). ``joblib.parallel_config(backend="dask")``
        sends the groups to a Dask cluster. With shared weights there is one
        fit, and n_jobs does nothing.
{COMMON_TAIL_DOC}
    Attributes
    ----------
    estimators_ : list of ESNRegressor
        The fitted groups: one estimator shared by every group, or one per
        group. Each reads ``neighbourhoods_.shape[1]`` inputs.
    n_groups_ : int
    neighbourhoods_ : ndarray of int of shape (``n_groups_``, D / ``n_groups_`` + 2 locality)
        The columns of X each group reads (-1: a zero beyond the boundary).
    final_state_ : array of shape (``n_groups_`` * n_units,), or (n_series,
        ``n_groups_`` * n_units) for several series: the state after the
        last fitted step.
    n_features_in_ : int
        Number of sites D.
    n_outputs_ : int
    feature_names_in_ : ndarray of str, only when X had string column names

    See Also
    --------
    ESNRegressor : one reservoir for the whole input.

    Examples
    --------
    A wave travelling around a ring of 16 sites, one reservoir per site with
    shared weights, each reading its site and two neighbours on each side:

    >>> import numpy as np
    >>> from reservoir import ParallelESNRegressor
    >>> t = np.arange(1200)[:, None] * 0.1
    >>> sites = np.arange(16)[None, :]
    >>> field = np.sin(2 * np.pi * sites / 16 - t) + 0.5 * np.cos(4 * np.pi * sites / 16 - 2 * t)
    >>> model = ParallelESNRegressor(n_units=60, locality=2, washout=100, alpha=1e-8,
    ...                              random_state=0)
    >>> model = model.fit(field[:999], field[1:1000])
    >>> model.estimators_[0].n_features_in_
    5
    >>> forecast = model.forecast(50, context=field[900:1000])
    >>> float(np.max(np.abs(forecast - field[1000:1050]))) < 1e-3
    True
    """

    def __init__(self, n_units=100, *, spectral_radius=0.9, leak_rate=1.0, input_scaling=1.0,
                 bias_scaling=0.5, density=None, in_degree=None, input_density=1.0,
                 topology="random", distribution="normal", activation="tanh", alpha=1e-6,
                 washout=0, readout_features=("constant", "input", "state"), noise_level=0.0,
                 input_noise=0.0, n_groups=None, locality=1, boundary="periodic",
                 shared_weights=True, random_state=None, dtype="float64", n_jobs=None):
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
        self.alpha = alpha
        self.washout = washout
        self.readout_features = readout_features
        self.noise_level = noise_level
        self.input_noise = input_noise
        self.n_groups = n_groups
        self.locality = locality
        self.boundary = boundary
        self.shared_weights = shared_weights
        self.random_state = random_state
        self.dtype = dtype
        self.n_jobs = n_jobs

    # ------------------------------------------------------------------ parameters

    def _group_estimator(self, random_state):
        return ESNRegressor(**{name: getattr(self, name) for name in _GROUP_PARAMS},
                            input_noise=0.0, random_state=random_state)

    def _validate_params(self):
        # The groups' own checks, run once before any data is cut.
        self._group_estimator(None)._validate_readout_params()
        check_interval("input_noise", self.input_noise, low=0)
        check_interval("n_groups", self.n_groups, low=1, integer=True, allow_none=True)
        check_interval("locality", self.locality, low=0, integer=True)
        if self.boundary not in BOUNDARIES:
            raise ValueError(f"boundary must be one of {BOUNDARIES}, got {self.boundary!r}")
        if not isinstance(self.shared_weights, (bool, np.bool_)):
            raise TypeError(f"shared_weights must be True or False, got {self.shared_weights!r}")

    def _check_consistency(self):
        """Raise a ValueError unless parameters and fitted state agree (what load checks).

        The groups' estimators check themselves; here they must be
        ``n_groups_`` alike (or one, with shared weights), each reading a
        neighbourhood of ``neighbourhoods_`` (sites in [0, n_features_in_))
        and predicting its block of the outputs, and ``_coupled`` their
        reservoirs side by side.
        """
        from ._schema import StateCheck

        self._validate_params()
        check = StateCheck(self)
        if not check.together("estimators_", "n_features_in_", "n_groups_", "neighbourhoods_",
                              "_coupled", "n_outputs_", "_y_one_d"):
            return
        check.features_in()
        groups = check.sizes["n_groups"] = check.integer("n_groups_", low=1)
        sites = check.array("neighbourhoods_", ("n_groups", None), dtype="int")
        width = check.sizes["width"] = int(sites.shape[1])
        if sites.size and (sites.min() < 0 or sites.max() >= check.sizes["n_features_in_"]):
            check.fail("neighbourhoods_", f"sites in [0, n_features_in_={self.n_features_in_})",
                       f"sites from {sites.min()} to {sites.max()}")
        estimators = check.instance("estimators_", list)
        check.integer("len(estimators_)", equal=1 if self.shared_weights else groups,
                      value=len(estimators))
        outputs = check.sizes["n_outputs"] = check.integer("n_outputs_", low=1)
        if outputs % groups:
            check.fail("n_outputs_", f"a multiple of n_groups_={groups}", outputs)
        n_units = None
        for g, group in enumerate(estimators):
            name = f"estimators_[{g}]"
            check.instance(name, ESNRegressor, value=group)
            if not hasattr(group, "readout_") or group._feedback() is not None:
                check.fail(name, "a fitted ESNRegressor without feedback", group)
            check.integer(f"{name}.n_features_in_", equal=width, value=group.n_features_in_)
            check.integer(f"{name}.n_outputs_", equal=outputs // groups, value=group.n_outputs_)
            check.choice(f"{name}._y_one_d", (False,), value=group._y_one_d)
            n_units = check.integer(f"{name}.reservoir_.n_units", equal=n_units,
                                    value=group.reservoir_.n_units)
        check.sizes["state_size"] = groups * n_units
        if self.shared_weights:
            check.choice("_coupled", (None,))
        else:
            coupled = check.instance("_coupled", Reservoir)
            check.integer("_coupled.n_units", equal=groups * n_units, value=coupled.n_units)
            check.integer("_coupled.n_features", equal=groups * width, value=coupled.n_features)
            check.choice("_coupled.W_fb", (None,), value=coupled.W_fb)
        check.boolean("_y_one_d")
        if self._y_one_d:
            check.integer("n_outputs_", equal=1)
        self._check_fit_end(check, dtype=np.dtype(resolve_dtype(self.dtype, np)))

    def _resolve_groups(self, n_sites, n_outputs):
        n_groups = n_sites if self.n_groups is None else int(self.n_groups)
        if n_sites % n_groups:
            raise ValueError(
                f"n_groups={n_groups} does not divide the {n_sites} sites (columns of X) into "
                f"equal groups; choose n_groups among the divisors of {n_sites}: "
                f"{_divisors(n_sites)}"
            )
        if n_outputs % n_groups:
            raise ValueError(
                f"y has {n_outputs} column(s), which cannot be split into n_groups={n_groups} "
                f"equal blocks, one per group; give y a multiple of {n_groups} columns (one per "
                f"site: {n_sites}), or choose n_groups among the divisors of {n_outputs} that "
                f"divide {n_sites}: {[d for d in _divisors(n_outputs) if n_sites % d == 0]}"
            )
        return n_groups

    # ------------------------------------------------------------------ layouts

    # Two layouts serve the runtime. Shared weights: the groups are series of
    # one batch, (n_series * n_groups, ..., per-group size). Separate
    # weights: one block-diagonal reservoir whose inputs, states and outputs
    # are the groups' side by side, (n_series, ..., n_groups * per-group size).

    def _groups_as_batch(self, a):
        """(S, T, G * w) -> (S * G, T, w): each group of each series a series of its own."""
        xp = get_namespace(a)
        S, T, Gw = (int(n) for n in a.shape)
        G = self.n_groups_
        a = xp.permute_dims(xp.reshape(a, (S, T, G, Gw // G)), (0, 2, 1, 3))
        return xp.reshape(a, (S * G, T, Gw // G))

    def _batch_as_groups(self, a):
        """(S * G, T, w) -> (S, T, G * w), the inverse of :meth:`_groups_as_batch`."""
        xp = get_namespace(a)
        SG, T, w = (int(n) for n in a.shape)
        G = self.n_groups_
        a = xp.permute_dims(xp.reshape(a, (SG // G, G, T, w)), (0, 2, 1, 3))
        return xp.reshape(a, (SG // G, T, G * w))

    def _group_block(self, a, g):
        """Group g's block of the last axis of (S, T, G * w)."""
        w = int(a.shape[-1]) // self.n_groups_
        return a[..., g * w:(g + 1) * w]

    @staticmethod
    def _series(inputs, targets, lengths):
        """A padded batch as the groups' ESNRegressor takes it: 3-D, or a list when ragged."""
        if len(set(lengths)) == 1:
            return inputs, targets
        return ([inputs[i, :n, :] for i, n in enumerate(lengths)],
                [targets[i, :n, :] for i, n in enumerate(lengths)])

    # ------------------------------------------------------------------ fit

    def fit(self, X, y):
        """Fit every group's readout on its neighbourhood of X and its block of y.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_sites), a list of such
            (lengths may differ), or an array of shape (n_series,
            n_timesteps, n_sites)
        y : array-like of shape (n_timesteps,) or (n_timesteps, n_outputs),
            or the same per series, aligned step by step with X;
            n_outputs must be a multiple of the number of groups

        Returns
        -------
        self
        """
        self._validate_params()
        batch, Y, y_one_d = validate_series(self, X, y, reset=True, dtype=self.dtype,
                                            min_length=self.washout + 1)
        xp = batch.xp
        n_sites, n_outputs = self.n_features_in_, int(Y.shape[2])
        n_groups = self._resolve_groups(n_sites, n_outputs)
        sites = neighbourhood_sites(n_sites, n_groups, self.locality, self.boundary)
        self.n_groups_ = n_groups
        rng = check_generator(self.random_state)
        data = batch.data
        if self.input_noise:
            # Noisy inputs, clean targets: the readouts learn to pull perturbed
            # states back to the data, which keeps the coupled closed loop stable.
            noise = rng.standard_normal(tuple(data.shape)) * float(self.input_noise)
            data = data + to_namespace(noise, xp, dtype=data.dtype, **device_kwargs(data, xp))
        inputs = _Neighbourhoods(sites, data)(data)
        if self.shared_weights:
            # The spawns of ``rng`` are independent of the noise drawn from it,
            # so the shared reservoir is the one ESNRegressor draws from the
            # same random_state.
            group = self._group_estimator(rng).fit(*self._series(
                self._groups_as_batch(inputs), self._groups_as_batch(Y),
                [n for n in batch.lengths for _ in range(n_groups)]))
            self.estimators_ = [group]
            final = xp.reshape(group.final_state_, (batch.n_series, -1))
            self._coupled = None
        else:
            # Independent fits: joblib runs them in parallel (in processes, or
            # on a Dask cluster under joblib.parallel_config(backend="dask")).
            self.estimators_ = Parallel(n_jobs=self.n_jobs)(
                delayed(_fit_group)(self._group_estimator(child), *self._series(
                    self._group_block(inputs, g), self._group_block(Y, g), batch.lengths))
                for g, child in enumerate(rng.spawn(n_groups))
            )
            final = xp.concat([group.final_state_ for group in self.estimators_], axis=1)
            self._coupled = Reservoir.block_diagonal([e.reservoir_ for e in self.estimators_])
        self.neighbourhoods_ = sites
        self.n_outputs_ = n_outputs
        self._y_one_d = y_one_d
        self._record_fit_end(batch, Y, final)
        return self

    # ------------------------------------------------------------------ open loop

    def _state_size(self):
        return self.n_groups_ * self.estimators_[0].reservoir_.n_units

    def predict(self, X, *, initial_state=None):
        """Every group's readout output for every time step of X, one step ahead.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_sites), list of such, or
            array of shape (n_series, n_timesteps, n_sites)
        initial_state : None, "continue", or array of shape (``n_groups_`` *
            n_units,) or (n_series, ``n_groups_`` * n_units)
            State before the first step: zeros when None; "continue" starts
            from the end of the fitted data.

        Returns
        -------
        y : array of shape (n_timesteps,) or (n_timesteps, n_outputs), in X's
            layout and namespace; the groups' blocks in order
        """
        check_is_fitted(self)
        batch, _, _ = validate_series(self, X, None, reset=False, dtype=self.dtype,
                                      require_y=False)
        xp = batch.xp
        x0 = self._start_state(initial_state, batch, size=self._state_size(), xp=xp,
                               dtype=resolve_dtype(self.dtype, xp))
        inputs = _Neighbourhoods(self.neighbourhoods_, batch.data)(batch.data)
        if self.shared_weights:
            (group,) = self.estimators_
            Y = self._batch_as_groups(group.predict(
                self._groups_as_batch(inputs),
                initial_state=xp.reshape(x0, (batch.n_series * self.n_groups_, -1))))
        else:
            Y = xp.concat([
                group.predict(self._group_block(inputs, g),
                              initial_state=self._group_block(x0, g))
                for g, group in enumerate(self.estimators_)
            ], axis=2)
        return batch.restore(Y, squeeze_output=self._y_one_d)

    # ------------------------------------------------------------------ closed loop

    def _coupled_loop(self, n_steps, state, previous_field):
        """Closed loop from ``state`` (S, G * N) after the field ``previous_field`` (S, D).

        Returns the forecast fields, (S, n_steps, D).
        """
        xp = get_namespace(state)
        n_series, n_sites = (int(n) for n in previous_field.shape)
        G = self.n_groups_
        cut = _Neighbourhoods(self.neighbourhoods_, previous_field)
        if self.shared_weights:
            (group,) = self.estimators_
            width = int(self.neighbourhoods_.shape[1])

            def feedback(y):
                # (S * G, sites per group) -> the field (S, D) -> each group's neighbourhood.
                return xp.reshape(cut(xp.reshape(y, (n_series, n_sites))),
                                  (n_series * G, width))

            out, _ = group.reservoir_.generate(
                n_steps, readout=group.readout_function(state),
                initial_state=xp.reshape(state, (n_series * G, -1)),
                previous_output=xp.reshape(previous_field, (n_series * G, n_sites // G)),
                feedback=feedback)
            return self._batch_as_groups(out)
        readouts = [group.readout_function(state) for group in self.estimators_]
        n_units = int(state.shape[1]) // G
        width = int(self.neighbourhoods_.shape[1])

        def readout(states, inputs):
            return xp.concat([
                r(states[:, g * n_units:(g + 1) * n_units], inputs[:, g * width:(g + 1) * width])
                for g, r in enumerate(readouts)
            ], axis=1)

        out, _ = self._coupled.generate(n_steps, readout=readout, initial_state=state,
                                        previous_output=previous_field, feedback=cut)
        return out

    def _forecast_continued(self, n_steps):
        return self._coupled_loop(n_steps, self._final_state, self._final_target)

    def _forecast_after(self, batch, n_steps, initial_state):
        """Teacher-forced run over each context but its last row, then the coupled loop.

        The last row is left to the loop, which cuts its neighbourhoods and
        feeds them in exactly as it does with its own forecasts afterwards.
        """
        xp = batch.xp
        x0 = self._start_state(initial_state, batch, size=self._state_size(), xp=xp,
                               dtype=resolve_dtype(self.dtype, xp))
        last = np.asarray(batch.lengths) - 1
        inputs = _Neighbourhoods(self.neighbourhoods_, batch.data)(batch.data)
        if self.shared_weights:
            G = self.n_groups_
            x = self.estimators_[0].reservoir_.final_states(
                self._groups_as_batch(inputs), np.repeat(last, G),
                xp.reshape(x0, (batch.n_series * G, -1)))
            x = xp.reshape(x, (batch.n_series, -1))
        else:
            x = self._coupled.final_states(inputs, last, x0)
        return self._coupled_loop(n_steps, x, rows_at(batch.data, last, xp))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        return tags

    def __sklearn_is_fitted__(self):
        return hasattr(self, "estimators_")
