"""The reservoir as a dynamical system: the one place its update equation lives.

:class:`Reservoir` holds the fixed weights of a leaky-integrator echo state
network and runs them on any array library: over whole series (``run``,
``iter_states``, ``final_state``), one step at a time (``step``, with an
optional tangent vector for Lyapunov exponents), or in closed loop with a
readout and an optional feedback function (``generate``). Every estimator of
the package, the diagnostics, the Lyapunov estimators and the benchmarks run
their reservoirs through it.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse

from ._backend import (
    RecurrentOperator,
    device_kwargs,
    get_namespace,
    is_numpy,
    resolve_dtype,
    to_namespace,
    to_numpy,
)
from ._rows import StepCollector
from ._states import chunk_length, closed_loop, iter_states, leaky_step, prefers_sparse
from ._validation import check_initial_state, check_interval, check_sequences
from .activations import ACTIVATIONS, get_activation

__all__ = ["Reservoir"]


def _host_matrix(name, M, shape=None):
    """A host float64 matrix, dense or CSR, with a clear error on the wrong shape."""
    if scipy.sparse.issparse(M):
        M = scipy.sparse.csr_array(M, dtype=np.float64)
    else:
        M = np.asarray(to_numpy(M), dtype=np.float64)
    if M.ndim != 2 or (shape is not None and tuple(M.shape) != shape):
        expected = "2-D" if shape is None else f"shape {shape}"
        raise ValueError(f"{name} must have {expected}, got shape {tuple(M.shape)}")
    values = M.data if scipy.sparse.issparse(M) else M
    if not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN or infinity")
    return M


class _Prepared:
    """The weights on one namespace and device, transposed for row-major products."""

    def __init__(self, reservoir, xp, device):
        # The weights reach the kernels from here: check them once, so that a
        # reservoir whose attributes were changed by hand cannot get there.
        reservoir._check_weights()
        self.xp = xp
        self.dtype = resolve_dtype(reservoir.dtype, xp)
        self._W, self._device, self._dtype_name, self._operators = (reservoir.W, device,
                                                                    reservoir.dtype, {})
        self.operator = self.operator_for(1)
        W_in = reservoir.W_in.toarray() if scipy.sparse.issparse(reservoir.W_in) else reservoir.W_in
        self.W_in_t = to_namespace(np.ascontiguousarray(W_in.T), xp, dtype=self.dtype, device=device)
        self.bias = to_namespace(reservoir.bias, xp, dtype=self.dtype, device=device)
        W_fb = reservoir.W_fb
        self.W_fb_t = (None if W_fb is None
                       else to_namespace(np.ascontiguousarray(W_fb.T), xp, dtype=self.dtype,
                                         device=device))
        act = get_activation(reservoir.activation, xp)
        self.f = act.function
        self.df = act.derivative_from_output

    def operator_for(self, n_series):
        """The recurrent product for a batch of ``n_series``: dense or CSR, as measured.

        On a GPU the faster form can depend on the batch
        (:func:`reservoir._states.prefers_sparse`); each form is built once.
        """
        sparse = prefers_sparse(self._W, self.xp, n_series=int(n_series), dtype=self._dtype_name)
        operator = self._operators.get(sparse)
        if operator is None:
            operator = self._operators[sparse] = RecurrentOperator(
                self._W, self.xp, dtype=self.dtype, device=self._device, sparse=sparse)
        return operator


class Reservoir:
    """A fixed leaky-integrator reservoir: weights, leak rate and activation.

    One step, for input u(t) of ``n_features`` and state x(t) of ``n_units``:

        z(t) = W x(t-1) + W_in u(t) + W_fb y(t-1) + b
        x(t) = (1 - a) x(t-1) + a f(z(t))

    with a the leak rate, f the activation and the feedback term present
    only when ``W_fb`` is given. The weights are kept on the host (NumPy or
    SciPy CSR) and copied once to the namespace and device of the data a
    method is called with; CuPy data runs on its GPU, array-api-strict on
    the CPU. Every method starts from the zero state unless an initial state
    is given, and none changes the reservoir.

    Fitted estimators expose their reservoir as ``reservoir_``.

    Parameters
    ----------
    W : ndarray or scipy.sparse matrix of shape (n_units, n_units)
        Recurrent weights (see :func:`reservoir.initializers.recurrent_weights`).
    W_in : ndarray or scipy.sparse matrix of shape (n_units, n_features)
        Input weights.
    bias : array-like of shape (n_units,), optional
        Zeros when None.
    W_fb : ndarray of shape (n_units, n_outputs), optional
        Output feedback weights.
    leak_rate : float in (0, 1], default=1.0
    activation : {"tanh", "identity", "relu", "sigmoid"}, default="tanh"
    dtype : {"float64", "float32"}, default="float64"
        Precision of the states on every backend.

    Attributes
    ----------
    n_units, n_features : int
    n_feedback : int
        Outputs fed back through ``W_fb`` (0 without feedback).

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir import Reservoir
    >>> from reservoir.initializers import input_weights, recurrent_weights
    >>> res = Reservoir(recurrent_weights(50, spectral_radius=0.9, random_state=0),
    ...                 input_weights(50, 1, random_state=1), leak_rate=0.5)
    >>> u = np.sin(np.linspace(0, 10, 200))[:, None]
    >>> states = res.run(u)
    >>> states.shape
    (200, 50)
    >>> x = None
    >>> for t in range(200):
    ...     x = res.step(u[t], x)
    >>> bool(np.allclose(x, states[-1], rtol=1e-12, atol=1e-12))
    True
    """

    def __init__(self, W, W_in, bias=None, *, W_fb=None, leak_rate=1.0, activation="tanh",
                 dtype="float64"):
        self.W = _host_matrix("W", W)
        n = self.W.shape[0]
        if self.W.shape != (n, n) or n == 0:
            raise ValueError(f"W must be a square (n_units, n_units) matrix, got shape {self.W.shape}")
        W_in = _host_matrix("W_in", W_in)
        if W_in.shape[0] != n:
            raise ValueError(f"W_in must have shape ({n}, n_features) for W of shape {self.W.shape}, "
                             f"got {tuple(W_in.shape)}")
        self.W_in = W_in
        if bias is None:
            bias = np.zeros(n)
        bias = np.asarray(to_numpy(bias), dtype=np.float64).reshape(-1)
        if bias.shape != (n,):
            raise ValueError(f"bias must have shape ({n},), got shape {bias.shape}")
        if not np.all(np.isfinite(bias)):
            raise ValueError("bias contains NaN or infinity")
        self.bias = bias
        if W_fb is not None:
            W_fb = _host_matrix("W_fb", W_fb)
            if scipy.sparse.issparse(W_fb):
                W_fb = W_fb.toarray()
            if W_fb.shape[0] != n:
                raise ValueError(f"W_fb must have shape ({n}, n_outputs), got {tuple(W_fb.shape)}")
        self.W_fb = W_fb
        if isinstance(leak_rate, np.generic):
            leak_rate = leak_rate.item()
        self.leak_rate = float(check_interval("leak_rate", leak_rate, low=0, high=1,
                                              low_inclusive=False))
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation must be one of {ACTIVATIONS}, got {activation!r}")
        self.activation = activation
        self.dtype = np.dtype(resolve_dtype(dtype, np)).name
        self._cache = {}

    # ------------------------------------------------------------------ basics

    @property
    def n_units(self):
        return int(self.W.shape[0])

    @property
    def n_features(self):
        return int(self.W_in.shape[1])

    @property
    def n_feedback(self):
        return 0 if self.W_fb is None else int(self.W_fb.shape[1])

    def __repr__(self):
        extra = f", n_feedback={self.n_feedback}" if self.W_fb is not None else ""
        return (f"Reservoir(n_units={self.n_units}, n_features={self.n_features}{extra}, "
                f"leak_rate={self.leak_rate}, activation={self.activation!r}, dtype={self.dtype!r})")

    def __getstate__(self):
        # Device copies hold namespace modules, which do not pickle; they are
        # rebuilt from the host weights at the first use after unpickling.
        state = dict(self.__dict__)
        state["_cache"] = {}
        return state

    def _check_consistency(self):
        """Raise a ValueError unless the weights and settings agree (what load checks).

        The checks of :meth:`_check_weights`, and no prepared copies (a
        cache, which model files never hold).
        """
        self._check_weights().empty("_cache")

    def _check_weights(self):
        """Raise a ValueError unless the weights and settings agree with each other.

        W square and CSR-valid (or dense), W_in (n_units, n_features), bias
        (n_units,), W_fb (n_units, n_feedback), all float64 and finite, as
        the constructor leaves them; leak rate, activation and dtype among
        the constructor's values. The first use on each array library runs
        it, before the weights are copied for the kernels.
        """
        from ._schema import StateCheck

        check = StateCheck(self)
        W = check.array("W", (None, None), dtype=np.float64, sparse=True)
        check.sizes["n_units"] = check.integer("W.shape[0]", low=1, value=W.shape[0])
        check.array("W", ("n_units", "n_units"), dtype=np.float64, sparse=True)
        W_in = check.array("W_in", ("n_units", None), dtype=np.float64, sparse=True)
        check.sizes["n_features"] = int(W_in.shape[1])
        check.array("bias", ("n_units",), dtype=np.float64)
        if self.W_fb is not None:
            check.array("W_fb", ("n_units", None), dtype=np.float64)
        leak_rate = check.instance("leak_rate", float)
        check_interval("leak_rate", leak_rate, low=0, high=1, low_inclusive=False)
        check.choice("activation", ACTIVATIONS)
        check.choice("dtype", ("float64", "float32"))
        return check

    def prepared(self, like):
        """The weights on the namespace and device of array ``like`` (cached).

        Returns an object with ``xp``, ``dtype``, ``operator`` (x -> x Wᵀ),
        ``W_in_t``, ``bias``, ``W_fb_t``, ``f`` and ``df`` (the activation and
        its derivative in terms of its output): what the kernels take.
        """
        xp = get_namespace(like)
        device = device_kwargs(like, xp).get("device")
        key = (xp.__name__, repr(device))
        prep = self._cache.get(key)
        if prep is None:
            prep = self._cache[key] = _Prepared(self, xp, device)
        return prep

    def initial_state(self, initial_state, n_series, like):
        """``initial_state`` (None, (n_units,) or (n_series, n_units)) as (n_series, n_units).

        None gives zeros; an array of another namespace is moved beside ``like``.
        """
        prep = self.prepared(like)
        xp = prep.xp
        x0 = check_initial_state(initial_state, n_series=n_series, size=self.n_units, xp=xp,
                                 dtype=prep.dtype, like=like)
        if x0 is None:
            return xp.zeros((n_series, self.n_units), dtype=prep.dtype, **device_kwargs(like, xp))
        return x0

    def _cast(self, a, prep):
        return a if a.dtype == prep.dtype else prep.xp.astype(a, prep.dtype)

    # ------------------------------------------------------------------ open loop

    def iter_states(self, inputs, initial_state=None, *, previous_outputs=None, noise=None,
                    chunk_size=None):
        """Stream the states of a padded batch, chunk by chunk.

        The streaming form of :meth:`run`, for consumers that reduce states
        as they come (a readout's statistics) and never hold all of them.

        Parameters
        ----------
        inputs : array of shape (n_series, n_timesteps, n_features)
            Of any supported namespace; series shorter than n_timesteps are
            right-padded (padding never reaches a series' own states).
        initial_state : array of shape (n_units,) or (n_series, n_units), optional
        previous_outputs : array of shape (n_series, n_timesteps, n_feedback), optional
            The outputs fed back through ``W_fb``: row t holds y(t-1)
            (teacher forcing).
        noise : callable, optional
            ``noise(t0, shape)`` returns pre-activation noise for the steps
            t0 .. t0 + shape[1] - 1.
        chunk_size : int, optional
            Steps per chunk; by default about 4 MB of float64 states, at most 4096 steps
            and at least 1024 rows (series x steps) up to 16 MB.

        Yields
        ------
        t0 : int
        states : array of shape (n_series, c, n_units)
        """
        prep = self.prepared(inputs)
        if len(inputs.shape) != 3 or inputs.shape[2] != self.n_features:
            raise ValueError(f"inputs must have shape (n_series, n_timesteps, {self.n_features}), "
                             f"got {tuple(inputs.shape)}")
        if (previous_outputs is None) != (self.W_fb is None):
            raise ValueError("previous_outputs are required exactly when the reservoir has W_fb")
        x0 = self.initial_state(initial_state, int(inputs.shape[0]), inputs)
        if chunk_size is None:
            chunk_size = chunk_length(int(inputs.shape[0]), self.n_units,
                                      device=not is_numpy(prep.xp))
        yield from iter_states(
            self._cast(inputs, prep), prep.operator_for(inputs.shape[0]), prep.W_in_t, prep.bias,
            leak_rate=self.leak_rate, activation=prep.f, activation_name=self.activation,
            initial_state=x0, chunk_size=chunk_size,
            teacher=None if previous_outputs is None else self._cast(previous_outputs, prep),
            W_fb_t=prep.W_fb_t, noise=noise,
        )

    def _batch(self, X, previous_outputs):
        batch = check_sequences(X, dtype=self.dtype, n_features=self.n_features)
        fb = None
        if self.W_fb is not None:
            if previous_outputs is None:
                raise ValueError("this reservoir has output feedback (W_fb): pass previous_outputs")
            fb = check_sequences(previous_outputs, dtype=self.dtype, n_features=self.n_feedback)
            if fb.lengths != batch.lengths:
                raise ValueError("previous_outputs must have the layout and lengths of X")
            fb = fb.data
        elif previous_outputs is not None:
            raise ValueError("previous_outputs given, but this reservoir has no feedback weights W_fb")
        return batch, fb

    def run(self, X, initial_state=None, *, previous_outputs=None):
        """States x(t) for every time step of X.

        Parameters
        ----------
        X : array-like of shape (n_timesteps, n_features), a list of such
            (1-D items are one feature; lengths may differ), or an array of
            shape (n_series, n_timesteps, n_features)
        initial_state : array of shape (n_units,) or (n_series, n_units), optional
            State before the first step; zeros when None.
        previous_outputs : same layout as X with n_feedback features, optional
            With output feedback: row t is y(t-1), the output fed back at step t.

        Returns
        -------
        states : array of shape (n_timesteps, n_units), in X's layout and namespace
        """
        batch, fb = self._batch(X, previous_outputs)
        xp = batch.xp
        chunks = [S for _, S in self.iter_states(batch.data, initial_state, previous_outputs=fb)]
        return batch.restore(chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=1))

    def final_state(self, X, initial_state=None, *, previous_outputs=None):
        """State after the last step of each series of X, streamed (no states kept).

        Returns an array of shape (n_units,) for one series, (n_series,
        n_units) for several.
        """
        batch, fb = self._batch(X, previous_outputs)
        final = self.final_states(batch.data, batch.lengths, initial_state, previous_outputs=fb)
        return final[0, ...] if batch.layout == "single" else final

    def final_states(self, inputs, lengths, initial_state=None, *, previous_outputs=None,
                     noise=None):
        """State after step ``lengths[i] - 1`` of each series of a padded batch, (n_series, n_units).

        A length of 0 gives the initial state.
        """
        xp = get_namespace(inputs)
        x0 = self.initial_state(initial_state, int(inputs.shape[0]), inputs)
        last = StepCollector(np.asarray(lengths) - 1)
        last.update(xp.expand_dims(x0, axis=1), -1, xp)
        if max(lengths) > 0:
            for t0, S in self.iter_states(inputs, x0, previous_outputs=previous_outputs,
                                          noise=noise):
                last.update(S, t0, xp)
        return last.result(xp)

    # ------------------------------------------------------------------ one step

    def step(self, u, state=None, *, previous_output=None, tangent=None):
        """Advance one step: x(t) from u(t) and x(t-1).

        Parameters
        ----------
        u : array of shape (n_features,) or (n_series, n_features)
        state : array of the same leading shape with n_units, optional
            x(t-1); zeros when None.
        previous_output : array of shape (n_feedback,) or (n_series, n_feedback)
            y(t-1), required with output feedback.
        tangent : array shaped like the state, optional
            A perturbation v of x(t-1), carried by the Jacobian of the step,
            v <- (1 - a) v + a f'(z(t)) (W v): the linearised update used by
            the Lyapunov exponent estimators.

        Returns
        -------
        state : array, x(t), in u's namespace and dtype (1-D for a 1-D u)
        tangent : array, only when ``tangent`` is given
        """
        xp = get_namespace(u, state) if state is not None else get_namespace(u)
        if not hasattr(u, "shape"):
            u = xp.asarray(u)
        one = u.ndim == 1
        U = xp.reshape(u, (1, -1)) if one else u
        if U.ndim != 2 or U.shape[1] != self.n_features:
            raise ValueError(f"u must have shape ({self.n_features},) or (n_series, "
                             f"{self.n_features}), got {tuple(u.shape)}")
        prep = self.prepared(U)
        U = self._cast(U, prep)
        x = self.initial_state(state, int(U.shape[0]), U)
        operator = prep.operator_for(U.shape[0])
        z = operator(x) + U @ prep.W_in_t + prep.bias
        if self.W_fb is not None:
            if previous_output is None:
                raise ValueError("this reservoir has output feedback (W_fb): pass previous_output")
            y = self._cast(xp.reshape(xp.asarray(previous_output), (-1, self.n_feedback)), prep)
            z = z + y @ prep.W_fb_t
        elif previous_output is not None:
            raise ValueError("previous_output given, but this reservoir has no feedback weights W_fb")
        x_next = leaky_step(x, z, self.leak_rate, prep.f)
        out = x_next[0, ...] if one else x_next
        if tangent is None:
            return out
        v = self._cast(xp.reshape(xp.asarray(tangent), tuple(x.shape)), prep)
        a = self.leak_rate
        # The derivative of f at z(t), from f(z(t)) recovered out of the leaky blend.
        fz = x_next if a == 1.0 else (x_next - (1.0 - a) * x) / a
        v_next = (1.0 - a) * v + a * prep.df(fz) * operator(v)
        return out, (v_next[0, ...] if one else v_next)

    # ------------------------------------------------------------------ closed loop

    def generate(self, n_steps, *, readout, initial_state=None, previous_output, feedback=None,
                 inputs=None):
        """Run in closed loop: outputs of the readout drive the next step.

        Each step computes u(t) (below), then x(t) from the update equation
        and y(t) = readout(x(t), u(t)):

        * autonomous (default): u(t) = y(t-1), the forecast fed back as the
          next input;
        * ``feedback``: u(t) = feedback(y(t-1)), a function of the outputs
          of the whole batch, which is how coupled schemes such as
          neighbouring local reservoirs exchange their predictions;
        * ``inputs``: u(t) = inputs[:, t], exogenous inputs, with the
          outputs fed back only through ``W_fb``.

        With ``W_fb`` the previous output also drives the reservoir through it.

        Parameters
        ----------
        n_steps : int
        readout : callable
            ``readout(states, inputs)`` -> outputs, on (n_series, n_units)
            and (n_series, n_features).
        initial_state : array of shape (n_units,) or (n_series, n_units), optional
        previous_output : array of shape (n_outputs,) or (n_series, n_outputs)
            y(-1).
        feedback : callable, optional
        inputs : array of shape (n_series, n_steps, n_features), optional

        Returns
        -------
        outputs : array of shape (n_series, n_steps, n_outputs) ((n_steps,
            n_outputs) for a 1-D ``previous_output``)
        final_state : array of shape (n_series, n_units) (or (n_units,))
        """
        check_interval("n_steps", n_steps, low=1, integer=True)
        if feedback is not None and inputs is not None:
            raise ValueError("give either feedback (closed loop) or inputs (exogenous), not both")
        xp = get_namespace(previous_output)
        if not hasattr(previous_output, "shape"):
            previous_output = xp.asarray(previous_output)
        one = previous_output.ndim == 1
        y0 = xp.reshape(previous_output, (1, -1)) if one else previous_output
        prep = self.prepared(y0)
        y0 = self._cast(y0, prep)
        x0 = self.initial_state(initial_state, int(y0.shape[0]), y0)
        if inputs is None and feedback is None and y0.shape[1] != self.n_features:
            raise ValueError(
                f"an autonomous closed loop feeds each output back as the next input, so outputs "
                f"need the reservoir's {self.n_features} features, got {y0.shape[1]}; pass a "
                "feedback function that maps outputs to inputs"
            )
        if inputs is not None:
            inputs = self._cast(inputs, prep)
            if tuple(inputs.shape) != (y0.shape[0], n_steps, self.n_features):
                raise ValueError(f"inputs must have shape ({y0.shape[0]}, {n_steps}, "
                                 f"{self.n_features}), got {tuple(inputs.shape)}")
        # A linear readout on [u; x; x^2] (ReadoutFunction) describes itself in
        # blocks, which lets the loop fuse it with the update step.
        linear = getattr(readout, "linear_parts", None)
        outputs, x = closed_loop(
            prep.operator_for(y0.shape[0]), initial_state=x0, previous_output=y0,
            n_steps=int(n_steps),
            leak_rate=self.leak_rate, activation=prep.f, readout=readout, bias=prep.bias,
            W_in_t=prep.W_in_t, W_fb_t=prep.W_fb_t, inputs=inputs, feedback=feedback,
            activation_name=self.activation,
            linear_readout=None if linear is None else linear(self.n_features, self.n_units),
        )
        if one:
            return outputs[0, ...], x[0, ...]
        return outputs, x

    # ------------------------------------------------------------------ composition

    @classmethod
    def block_diagonal(cls, reservoirs):
        """Independent reservoirs side by side, as one reservoir.

        The inputs of the result are the inputs of each part, concatenated in
        order, and so are its states and fed-back outputs; W, W_in and W_fb
        are block diagonal, so no part sees another. The parts must share
        leak rate, activation and dtype. Parallel schemes use it to run many
        local reservoirs with different weights in one product per step.
        """
        reservoirs = list(reservoirs)
        if not reservoirs or not all(isinstance(r, Reservoir) for r in reservoirs):
            raise TypeError("block_diagonal needs a non-empty sequence of Reservoir objects")
        first = reservoirs[0]
        for name in ("leak_rate", "activation", "dtype"):
            values = {getattr(r, name) for r in reservoirs}
            if len(values) > 1:
                raise ValueError(f"the reservoirs must share {name}, got {sorted(map(str, values))}")
        with_fb = {r.W_fb is not None for r in reservoirs}
        if len(with_fb) > 1:
            raise ValueError("either every reservoir has feedback weights W_fb or none has")
        sparse = any(scipy.sparse.issparse(r.W) for r in reservoirs)
        W = scipy.sparse.block_diag([r.W for r in reservoirs], format="csr")
        W_in = scipy.sparse.block_diag([r.W_in for r in reservoirs], format="csr")
        W_fb = (scipy.sparse.block_diag([r.W_fb for r in reservoirs], format="csr").toarray()
                if first.W_fb is not None else None)
        return cls(W if sparse else W.toarray(), W_in.toarray(),
                   np.concatenate([r.bias for r in reservoirs]), W_fb=W_fb,
                   leak_rate=first.leak_rate, activation=first.activation, dtype=first.dtype)

