"""Recurrent cells as objects: one step forward and its backward step.

A cell knows its equations and nothing else: the time loop over steps, the
stacking of layers, the two directions of a bidirectional layer, padding,
zoneout and dropout live in :mod:`reservoir.rnn._network`, which drives any
cell through the same few methods (PyTorch's ``RNNCellBase`` design). Arrays
are batch-first, ``(B, features)`` per step; every method is written once
against the Array-API namespace of its inputs, so the same code runs on
NumPy, CuPy and array-api-strict.

Every cell splits its pre-activation into an input part and a recurrent part,

    zx(t) = W_xh x(t) + b_h          (computed for all steps at once, one product)
    zh(t) = R(h(t-1))                (``recurrent``: W_hh h(t-1), or w * h(t-1))

so that the weight gradients are a few large products over all steps rather
than one small product per step. Weights keep the orientation of the
equations (``W_xh`` of shape (n_gates * n_units, n_inputs)); the gates of a
cell share one matrix, stacked in the order given below.

* :class:`ElmanCell`: h(t) = tanh(zx + W_hh h(t-1)).
* :class:`LSTMCell` (gates i, f, g, o; Hochreiter & Schmidhuber 1997, forget
  gate of Gers, Schmidhuber & Cummins 2000, optional peephole connections of
  Gers & Schmidhuber 2000):
  i = sigmoid(z_i + p_i c(t-1)), f = sigmoid(z_f + p_f c(t-1)), g = tanh(z_g),
  c(t) = f c(t-1) + i g, o = sigmoid(z_o + p_o c(t)), h(t) = o tanh(c(t)).
* :class:`GRUCell` (gates r, u, n; Cho et al. 2014, with the reset gate
  applied after the recurrent product as in cuDNN, which keeps one product
  per step): r = sigmoid(x_r + h_r), u = sigmoid(x_u + h_u),
  n = tanh(x_n + r (h_n + b_hn)), h(t) = (1 - u) n + u h(t-1).
* :class:`IndRNNCell` (Li et al. 2018): h(t) = f(zx + w * h(t-1)), each unit
  recurrent only onto itself through one weight w_i.

The backward step is backpropagation through one step: given dL/dstate(t)
it returns dL/dzx(t), dL/dzh(t) and the part of dL/dstate(t-1) that does not
go through the recurrent product (the LSTM's cell-state path, the GRU's
interpolation); the loop adds the recurrent part. Elman and IndRNN cells also
carry forward-mode sensitivities for real-time recurrent learning
(:mod:`reservoir.rnn._rtrl`).
"""

from __future__ import annotations

import numpy as np
import scipy.stats

from ..activations import get_activation

__all__ = [
    "CELLS",
    "ElmanCell",
    "GRUCell",
    "IndRNNCell",
    "LSTMCell",
    "RecurrentCell",
    "StepFunctions",
    "glorot_uniform",
    "make_cell",
]


class StepFunctions:
    """The activations a cell step needs, bound once to a namespace for a whole run."""

    def __init__(self, xp):
        self.xp = xp
        tanh, sigmoid = get_activation("tanh", xp), get_activation("sigmoid", xp)
        self.tanh, self.dtanh = tanh.function, tanh.derivative_from_output
        self.sigmoid, self.dsigmoid = sigmoid.function, sigmoid.derivative_from_output
        self._bound = {}

    def activation(self, name):
        """The :class:`~reservoir.activations.Activation` called ``name``, bound once per run."""
        if name not in self._bound:
            self._bound[name] = get_activation(name, self.xp)
        return self._bound[name]


def _orthogonal(n, rng):
    if n == 1:
        return np.array([[rng.choice([-1.0, 1.0])]])
    return scipy.stats.ortho_group.rvs(n, random_state=rng)


def glorot_uniform(n_out, n_in, rng):
    """Uniform on +-sqrt(6 / (n_in + n_out)) (Glorot & Bengio 2010), shape (n_out, n_in)."""
    limit = np.sqrt(6.0 / (n_in + n_out))
    return rng.uniform(-limit, limit, (n_out, n_in))


class RecurrentCell:
    """A recurrent cell: its parameters, one step forward and one step back.

    Subclasses set ``name``, ``n_gates`` and ``n_state_parts`` and implement
    :meth:`step` and :meth:`step_backward`; cells with a dense recurrent
    matrix inherit the rest.

    The state of a cell is a tuple of ``n_state_parts`` arrays of shape
    (B, n_units); its first part is the hidden state h that the layer
    outputs.
    """

    name = None
    n_gates = 1
    n_state_parts = 1
    supports_rtrl = False

    # ------------------------------------------------------------------ parameters

    def parameter_shapes(self, n_inputs, n_units):
        """Shapes of the cell's learned arrays, by name (without layer suffix)."""
        G = self.n_gates * n_units
        return {"W_xh": (G, n_inputs), "W_hh": (G, n_units), "b_h": (G,)}

    def initialize(self, n_inputs, n_units, rng, *, spectral_radius=1.0):
        """Initial weights as float64 NumPy arrays.

        Each gate block of the recurrent matrix is a Haar-random orthogonal
        matrix times ``spectral_radius`` (``scipy.stats.ortho_group``; Saxe
        et al. 2014: at 1 the recurrent product neither shrinks nor grows a
        state), each input block is Glorot-uniform (Glorot & Bengio 2010),
        biases are zero.
        """
        G = self.n_gates
        return {
            "W_xh": np.concatenate([glorot_uniform(n_units, n_inputs, rng) for _ in range(G)]),
            "W_hh": spectral_radius * np.concatenate([_orthogonal(n_units, rng) for _ in range(G)]),
            "b_h": np.zeros(G * n_units),
        }

    def prepare(self, p):
        """Per-run views of the parameters that the step uses (transposes made once)."""
        return {**p, "W_hh_t": p["W_hh"].T}

    # ------------------------------------------------------------------ recurrent product

    def recurrent(self, p, h):
        """zh = W_hh h(t-1) for a batch of states h (B, n_units): shape (B, n_gates * n_units)."""
        return h @ p["W_hh_t"]

    def recurrent_backward(self, p, dzh):
        """dL/dh(t-1) through the recurrent product, from dL/dzh (B, n_gates * n_units)."""
        return dzh @ p["W_hh"]

    def recurrent_gradient(self, p, dZh, H_prev, xp):
        """Gradient of the recurrent parameters from all steps at once.

        ``dZh`` (N, n_gates * n_units) and ``H_prev`` (N, n_units) hold the
        N = B * T steps of a run.
        """
        return {"W_hh": dZh.T @ H_prev}

    # ------------------------------------------------------------------ one step

    def step(self, p, zx, zh, state, fn):
        """One step: returns the new state (a tuple) and what the backward step needs."""
        raise NotImplementedError

    def step_backward(self, p, dstate, state_prev, saved, fn):
        """Backward through one step.

        Parameters
        ----------
        dstate : tuple of arrays
            dL/dstate(t), each part (B, n_units).
        state_prev : tuple of arrays
            The state before the step.
        saved : object
            Second output of :meth:`step`.

        Returns
        -------
        dzx, dzh : arrays of shape (B, n_gates * n_units)
            Gradients with respect to the input part and the recurrent part
            of the pre-activation.
        direct : tuple of arrays or None
            dL/dstate(t-1) through paths other than the recurrent product,
            one entry per state part (None for none).
        extra : dict of str to array, or None
            This step's gradient of parameters used elementwise inside the
            step (peepholes), summed over the batch.
        """
        raise NotImplementedError

    def __repr__(self):
        return f"{type(self).__name__}()"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)

    def __hash__(self):
        return hash((type(self), tuple(sorted(vars(self).items()))))


class ElmanCell(RecurrentCell):
    """Elman (simple recurrent) cell: h(t) = tanh(W_xh x(t) + W_hh h(t-1) + b_h)."""

    name = "elman"
    supports_rtrl = True

    def step(self, p, zx, zh, state, fn):
        h = fn.tanh(zx + zh)
        return (h,), h

    def step_backward(self, p, dstate, state_prev, saved, fn):
        dz = dstate[0] * fn.dtanh(saved)
        return dz, dz, (None,), None

    # ------------------------------------------------------------------ RTRL

    def sensitivity_shapes(self, n_inputs, n_units):
        """Shapes (per sequence) of dh/dθ for each parameter: every h_i depends on every weight."""
        H = n_units
        return {"W_xh": (H, H, n_inputs), "W_hh": (H, H, H), "b_h": (H, H)}

    def sensitivity_step(self, p, S, x, h_prev, h_new, keep, fn, xp, eye):
        """Advance dh/dθ by one step (Williams & Zipser 1989).

        With z = W_xh x + W_hh h(t-1) + b_h, h~ = tanh(z) and
        h(t) = k h(t-1) + (1 - k) h~ (k: zoneout or padding, else 0),

            dh_i(t)/dθ = k_i S_i + (1 - k_i) (1 - h~_i^2) (sum_l W_hh[i, l] S_l + dz_i/dθ|direct),

        where the direct term of W_hh[j, m] is δ_ij h_m(t-1), of W_xh[j, m]
        δ_ij x_m, of b_h[j] δ_ij. The product W_hh S costs n^2 times the
        number of weights, O(n^4) per step.
        """
        B, H = h_prev.shape
        a = fn.dtanh(h_new)
        if keep is not None:
            a = a * (1.0 - keep)

        def advance(Sb, direct):
            per_unit = (slice(None), slice(None)) + (None,) * (Sb.ndim - 2)
            R = xp.reshape(p["W_hh"] @ xp.reshape(Sb, (B, H, -1)), Sb.shape)
            new = a[per_unit] * (R + direct)
            if keep is not None:
                new = new + keep[per_unit] * Sb
            return new

        return {
            "W_hh": advance(S["W_hh"], eye[None, :, :, None] * h_prev[:, None, None, :]),
            "W_xh": advance(S["W_xh"], eye[None, :, :, None] * x[:, None, None, :]),
            "b_h": advance(S["b_h"], eye[None, :, :]),
        }

    def sensitivity_gradient(self, S, g, xp):
        """sum_b sum_i g[b, i] dh_i/dθ for a batch of output gradients g (B, n_units)."""
        B, H = g.shape
        out = {}
        for name, Sb in S.items():
            flat = xp.reshape(Sb, (B * H, -1))
            out[name] = xp.reshape(xp.reshape(g, (1, B * H)) @ flat, Sb.shape[2:])
        return out


class LSTMCell(RecurrentCell):
    """Long short-term memory cell, gates i, f, g, o, optionally with peepholes.

    Parameters
    ----------
    peephole : bool, default=False
        Let the input and forget gates read c(t-1), and the output gate c(t),
        through diagonal weights ``W_ch`` (shape (3 * n_units,), order i, f,
        o; Gers & Schmidhuber 2000), which lets the gates time the cell's
        content precisely.
    forget_bias : float, default=1.0
        Initial bias of the forget gate: positive so that the cell starts out
        remembering (Gers et al. 2000; Jozefowicz et al. 2015).
    """

    name = "lstm"
    n_gates = 4
    n_state_parts = 2

    def __init__(self, *, peephole=False, forget_bias=1.0):
        self.peephole = bool(peephole)
        self.forget_bias = float(forget_bias)

    def __repr__(self):
        return f"LSTMCell(peephole={self.peephole})"

    def parameter_shapes(self, n_inputs, n_units):
        shapes = super().parameter_shapes(n_inputs, n_units)
        if self.peephole:
            shapes["W_ch"] = (3 * n_units,)
        return shapes

    def initialize(self, n_inputs, n_units, rng, *, spectral_radius=1.0):
        p = super().initialize(n_inputs, n_units, rng, spectral_radius=spectral_radius)
        p["b_h"][n_units:2 * n_units] = self.forget_bias
        if self.peephole:
            p["W_ch"] = np.zeros(3 * n_units)
        return p

    def step(self, p, zx, zh, state, fn):
        h_prev, c_prev = state
        H = h_prev.shape[1]
        z = zx + zh
        if self.peephole:
            w = p["W_ch"]
            i = fn.sigmoid(z[:, :H] + w[:H] * c_prev)
            f = fn.sigmoid(z[:, H:2 * H] + w[H:2 * H] * c_prev)
            g = fn.tanh(z[:, 2 * H:3 * H])
            c = f * c_prev + i * g
            o = fn.sigmoid(z[:, 3 * H:] + w[2 * H:] * c)
        else:
            # One sigmoid over all four blocks costs fewer small-array calls
            # than three; the g block is then taken through tanh instead.
            s = fn.sigmoid(z)
            i, f, o = s[:, :H], s[:, H:2 * H], s[:, 3 * H:]
            g = fn.tanh(z[:, 2 * H:3 * H])
            c = f * c_prev + i * g
        tc = fn.tanh(c)
        return (o * tc, c), (i, f, g, o, c, tc)

    def step_backward(self, p, dstate, state_prev, saved, fn):
        xp = fn.xp
        dh, dc_next = dstate
        c_prev = state_prev[1]
        i, f, g, o, c, tc = saved
        dzo = dh * tc * fn.dsigmoid(o)
        dc = dh * o * fn.dtanh(tc)
        if dc_next is not None:
            dc = dc + dc_next
        if self.peephole:
            H = c.shape[1]
            w = p["W_ch"]
            dc = dc + dzo * w[2 * H:]
        dzi = dc * g * fn.dsigmoid(i)
        dzf = dc * c_prev * fn.dsigmoid(f)
        dz = xp.concat([dzi, dzf, dc * i * fn.dtanh(g), dzo], axis=-1)
        dc_prev = dc * f
        extra = None
        if self.peephole:
            dc_prev = dc_prev + dzi * w[:H] + dzf * w[H:2 * H]
            extra = {"W_ch": xp.sum(xp.concat([dzi * c_prev, dzf * c_prev, dzo * c], axis=-1),
                                    axis=0)}
        return dz, dz, (None, dc_prev), extra


class GRUCell(RecurrentCell):
    """Gated recurrent unit, gates r, u, n, reset after the recurrent product (cuDNN form)."""

    name = "gru"
    n_gates = 3

    def parameter_shapes(self, n_inputs, n_units):
        return {**super().parameter_shapes(n_inputs, n_units), "b_hn": (n_units,)}

    def initialize(self, n_inputs, n_units, rng, *, spectral_radius=1.0):
        p = super().initialize(n_inputs, n_units, rng, spectral_radius=spectral_radius)
        p["b_hn"] = np.zeros(n_units)
        return p

    def recurrent_gradient(self, p, dZh, H_prev, xp):
        H = H_prev.shape[1]
        return {"W_hh": dZh.T @ H_prev, "b_hn": xp.sum(dZh[:, 2 * H:], axis=0)}

    def step(self, p, zx, zh, state, fn):
        h_prev = state[0]
        H = h_prev.shape[1]
        ru = fn.sigmoid(zx[:, :2 * H] + zh[:, :2 * H])
        r, u = ru[:, :H], ru[:, H:]
        hn = zh[:, 2 * H:] + p["b_hn"]
        n = fn.tanh(zx[:, 2 * H:] + r * hn)
        return (n + u * (h_prev - n),), (r, u, hn, n)

    def step_backward(self, p, dstate, state_prev, saved, fn):
        xp = fn.xp
        dh = dstate[0]
        r, u, hn, n = saved
        dn = dh * (1.0 - u) * fn.dtanh(n)
        dr = dn * hn * fn.dsigmoid(r)
        du = dh * (state_prev[0] - n) * fn.dsigmoid(u)
        dzx = xp.concat([dr, du, dn], axis=-1)
        dzh = xp.concat([dr, du, dn * r], axis=-1)
        return dzx, dzh, (dh * u,), None


class IndRNNCell(RecurrentCell):
    """Independently recurrent cell (Li et al. 2018): h(t) = f(W_xh x(t) + w * h(t-1) + b_h).

    Each unit feeds back only onto itself, through one weight w_i
    (``W_hh`` of shape (n_units,), the diagonal of the recurrent matrix), so
    the gradient through k steps is prod f'(z) w_i^k per unit: it neither
    mixes units nor depends on a matrix's spectrum, and |w_i| near 1 keeps a
    unit's memory long.

    Parameters
    ----------
    activation : {"relu", "tanh"}, default="relu"
        f; ReLU in the original paper.
    """

    name = "indrnn"
    supports_rtrl = True

    def __init__(self, *, activation="relu"):
        self.activation = activation

    def __repr__(self):
        return f"IndRNNCell(activation={self.activation!r})"

    def parameter_shapes(self, n_inputs, n_units):
        return {"W_xh": (n_units, n_inputs), "W_hh": (n_units,), "b_h": (n_units,)}

    def initialize(self, n_inputs, n_units, rng, *, spectral_radius=1.0):
        """Input weights Glorot-uniform; recurrent weights uniform on (0, 1], scaled so that
        the largest is ``spectral_radius`` (the spectral radius of the diagonal matrix)."""
        w = rng.uniform(0.0, 1.0, n_units)
        return {
            "W_xh": glorot_uniform(n_units, n_inputs, rng),
            "W_hh": spectral_radius * w / w.max(),
            "b_h": np.zeros(n_units),
        }

    def prepare(self, p):
        return p

    def recurrent(self, p, h):
        return h * p["W_hh"]

    def recurrent_backward(self, p, dzh):
        return dzh * p["W_hh"]

    def recurrent_gradient(self, p, dZh, H_prev, xp):
        return {"W_hh": xp.sum(dZh * H_prev, axis=0)}

    def step(self, p, zx, zh, state, fn):
        h = fn.activation(self.activation).function(zx + zh)
        return (h,), h

    def step_backward(self, p, dstate, state_prev, saved, fn):
        dz = dstate[0] * fn.activation(self.activation).derivative_from_output(saved)
        return dz, dz, (None,), None

    # ------------------------------------------------------------------ RTRL

    def sensitivity_shapes(self, n_inputs, n_units):
        """Shapes (per sequence) of dh_i/dθ_i: unit i depends only on its own row of weights."""
        H = n_units
        return {"W_xh": (H, n_inputs), "W_hh": (H,), "b_h": (H,)}

    def sensitivity_step(self, p, S, x, h_prev, h_new, keep, fn, xp, eye):
        """Advance the sensitivities of each unit to its own weights by one step.

        With z_i = W_xh[i] x + w_i h_i(t-1) + b_i, h~ = f(z), and
        h(t) = k h(t-1) + (1 - k) h~,

            dh_i(t)/dθ_i = k_i S_i + (1 - k_i) f'(z_i) (w_i S_i + dz_i/dθ_i|direct),

        with direct terms h_i(t-1) for w_i, x for row i of W_xh and 1 for
        b_i. Only n (n_inputs + 2) numbers per sequence: O(n^2) per step.
        """
        a = fn.activation(self.activation).derivative_from_output(h_new)
        if keep is not None:
            a = a * (1.0 - keep)
        w = p["W_hh"]

        def advance(Sb, direct):
            per_unit = (slice(None), slice(None)) + (None,) * (Sb.ndim - 2)
            new = a[per_unit] * (w[per_unit[1:]] * Sb + direct)
            if keep is not None:
                new = new + keep[per_unit] * Sb
            return new

        return {
            "W_hh": advance(S["W_hh"], h_prev),
            "W_xh": advance(S["W_xh"], x[:, None, :]),
            "b_h": advance(S["b_h"], 1.0),
        }

    def sensitivity_gradient(self, S, g, xp):
        return {
            "W_hh": xp.sum(g * S["W_hh"], axis=0),
            "W_xh": xp.sum(g[:, :, None] * S["W_xh"], axis=0),
            "b_h": xp.sum(g * S["b_h"], axis=0),
        }


CELLS = ("elman", "lstm", "gru", "indrnn")
_CELL_TYPES = {"elman": ElmanCell, "lstm": LSTMCell, "gru": GRUCell, "indrnn": IndRNNCell}


def make_cell(cell, **options):
    """A cell object from its name (``CELLS``) and options, or the cell itself."""
    if isinstance(cell, RecurrentCell):
        return cell
    try:
        return _CELL_TYPES[cell](**options)
    except KeyError:
        raise ValueError(f"cell must be one of {CELLS}, got {cell!r}") from None
