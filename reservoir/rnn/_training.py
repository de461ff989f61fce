"""Training loop: mini-batches of windows, BPTT (full or truncated) or RTRL.

Per-step targets: one epoch cuts every training series into windows of
``sequence_length`` steps, consecutive windows starting ``stride`` steps
apart (a new random offset each epoch), shuffles them and groups them into
mini-batches. Each window starts from the zero state, as ``predict`` does, and
its first ``washout`` steps are left out of the loss. A mini-batch is trained
with one gradient over the whole window, or in chunks of ``bptt_steps``
steps: the state is carried from chunk to chunk and the weights are updated
after each. With backpropagation through time the gradient stops at chunk
boundaries (truncated BPTT; Williams & Peng 1990; Sutskever 2013, section
3.4); with real-time recurrent learning it does not, since the sensitivities
are carried along with the state (Williams & Zipser 1989).

Per-series labels: every series is one window, trained whole.

The stopping rule follows scikit-learn's MLP, with the improvement measured
relative to the best loss so far: training stops when the training loss (or,
with ``early_stopping``, the validation score) has not improved by ``tol``
for ``n_iter_no_change`` consecutive epochs; otherwise it warns with
:class:`~sklearn.exceptions.ConvergenceWarning` after ``max_iter`` epochs. A
non-finite loss or gradient stops training with ``FloatingPointError``.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._backend import device_of, get_namespace, limit_blas_threads, to_namespace
from .._warn import warn
from ._network import draw_noise, forward, readout, run_network
from ._objectives import loss_and_gradient, pool, pool_weights, score
from ._optimizers import AdamOptimizer, SGDOptimizer, clip_gradient_norm, scheduled_learning_rate
from ._rtrl import rtrl_loss_and_gradient

__all__ = [
    "TrainingConfig",
    "TrainingData",
    "TrainingResult",
    "iter_bptt",
    "make_windows",
    "split_validation",
    "train",
]


@dataclass(frozen=True)
class TrainingConfig:
    """Hyper-parameters of :func:`train` (already validated by the estimator)."""

    washout: int = 0
    sequence_length: int | None = None
    stride: int | None = None
    batch_size: int = 32
    bptt_steps: int | None = None
    gradient: str = "bptt"
    loss: str = "squared_error"
    pooling: str | None = None
    solver: str = "adam"
    learning_rate: str = "constant"
    learning_rate_init: float = 1e-3
    power_t: float = 0.5
    momentum: float = 0.9
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    clip_norm: float | None = 1.0
    weight_decay: float = 0.0
    dropout: float = 0.0
    input_dropout: float = 0.0
    max_iter: int = 200
    tol: float = 1e-4
    n_iter_no_change: int = 10
    early_stopping: bool = False
    validation_fraction: float = 0.1
    verbose: bool = False
    name: str = "network"


class TrainingData(NamedTuple):
    """Series to train on, right-padded.

    Attributes
    ----------
    X : array of shape (n_series, n_timesteps, n_features)
    Y : array of shape (n_series, n_timesteps, n_outputs), or (n_series,
        n_outputs) for one target per series
    lengths : list of int
    """

    X: object
    Y: object
    lengths: list

    @property
    def per_series(self):
        return self.Y.ndim == 2


class TrainingResult(NamedTuple):
    """What :func:`train` learned and how it got there."""

    params: dict
    loss_curve: list
    n_iter: int
    best_loss: float
    validation_scores: list | None
    best_validation_score: float | None
    converged: bool


def split_validation(lengths, *, washout, validation_fraction):
    """Where each series' validation tail begins (per-step targets).

    The last ``validation_fraction`` of the trainable steps (those after the
    washout) of every series are held out: a forecast is judged on the
    future, so the split is in time, not at random.

    Returns
    -------
    train_ends : list of int
        Training windows of series i lie in ``[0, train_ends[i])``.
    """
    ends = []
    for i, n in enumerate(lengths):
        n_val = max(1, int(round(validation_fraction * (n - washout))))
        if n - n_val <= washout:
            raise ValueError(
                f"series {i} has {n} time steps: too short to hold out validation_fraction="
                f"{validation_fraction} of its steps and keep more than washout={washout} for "
                "training; use longer series, a smaller validation_fraction or early_stopping=False"
            )
        ends.append(n - n_val)
    return ends


def split_series(n_series, *, validation_fraction, rng):
    """Training and validation series for per-series labels: a random split of whole series."""
    n_val = max(1, int(round(validation_fraction * n_series)))
    if n_series - n_val < 1:
        raise ValueError(
            f"early_stopping holds out validation_fraction={validation_fraction} of the "
            f"{n_series} series and needs at least one left to train on; pass more series"
        )
    order = rng.permutation(n_series)
    return sorted(order[n_val:].tolist()), sorted(order[:n_val].tolist())


def make_windows(ends, *, sequence_length, washout, rng, stride=None):
    """Training windows ``(series, start, stop)`` for one epoch, shuffled.

    Series no longer than ``sequence_length`` (or all series when it is
    None) give one window each. Longer ones are cut into windows of
    ``sequence_length`` steps, the first at a random offset, each starting
    ``stride`` steps after the previous one (by default
    ``sequence_length - washout``: consecutive windows overlap by the
    washout, so every step after the first washout is trained on once).
    """
    windows = []
    for i, n in enumerate(ends):
        if sequence_length is None or n <= sequence_length:
            windows.append((i, 0, n))
            continue
        step = sequence_length - washout if stride is None else stride
        start = int(rng.integers(0, min(step, n - sequence_length) + 1))
        while start + sequence_length <= n:
            windows.append((i, start, start + sequence_length))
            start += step
    order = rng.permutation(len(windows))
    return [windows[j] for j in order]


def _assemble(data, windows, washout, xp):
    """Stack windows into a right-padded batch: X, Y, loss mask, lengths."""
    lengths = [stop - start for _, start, stop in windows]
    length = max(lengths)
    dev = device_of(data.X)

    def take(A, s, start, stop):
        piece = A[s, start:stop, :]
        if stop - start == length:
            return piece
        pad = xp.zeros((length - (stop - start), A.shape[2]), dtype=A.dtype, device=dev)
        return xp.concat([piece, pad], axis=0)

    Xb = xp.stack([take(data.X, s, a, b) for s, a, b in windows], axis=0)
    if data.per_series:
        rows = to_namespace(np.asarray([s for s, _, _ in windows]), xp, device=dev)
        Yb = xp.take(data.Y, rows, axis=0)
    else:
        Yb = xp.stack([take(data.Y, s, a, b) for s, a, b in windows], axis=0)
    mask = np.zeros((len(windows), length))
    for j, n in enumerate(lengths):
        mask[j, washout:n] = 1.0
    return Xb, Yb, to_namespace(mask, xp, dtype=data.X.dtype, device=dev), lengths


def iter_bptt(spec, params, X, Y, mask, bptt_steps, *, lengths=None, noise=None,
              loss="squared_error", pooling=None, gradient="bptt"):
    """Loss and gradient of each chunk of a batch, carrying the state.

    With ``bptt_steps=None`` (or a pooled head) there is a single chunk.
    Otherwise chunk j covers steps ``[j k, (j + 1) k)`` and starts from the
    final state of chunk j - 1. With ``gradient="bptt"`` its gradient treats
    that state as a constant (truncated BPTT); with ``"rtrl"`` the state's
    sensitivities are carried too, so each chunk's gradient is the exact
    gradient of its loss. The forward pass of each chunk reads ``params``
    when the chunk is reached, so a caller that updates the dict in place
    between chunks learns online.

    Yields
    ------
    loss : float
    grads : dict of str to array
    n_counted : float
        Steps of the chunk that entered the loss (0: nothing to learn from).
    """
    T = X.shape[1]
    k = T if bptt_steps is None or pooling is not None else bptt_steps
    state = sensitivities = None
    for start in range(0, T, k):
        stop = min(start + k, T)
        chunk_lengths = None if lengths is None else [min(max(n - start, 0), stop - start)
                                                      for n in lengths]
        kwargs = dict(lengths=chunk_lengths, noise=None if noise is None else noise.window(start, stop),
                      loss=loss, pooling=pooling)
        Yc = Y if pooling is not None else Y[:, start:stop, :]
        if gradient == "rtrl":
            value, grads, state, n, sensitivities = rtrl_loss_and_gradient(
                spec, params, X[:, start:stop, :], Yc, mask[:, start:stop], state,
                sensitivities=sensitivities, **kwargs)
        else:
            value, grads, state, n = loss_and_gradient(
                spec, params, X[:, start:stop, :], Yc, mask[:, start:stop], state, **kwargs)
        yield value, grads, n


def _validation_score(spec, params, data, rows, mask, config):
    """Validation score of the held-out series (or of every series' held-out tail)."""
    xp = get_namespace(data.X)
    if data.per_series:
        index = to_namespace(np.asarray(rows), xp, device=device_of(data.X))
        X, Y = xp.take(data.X, index, axis=0), xp.take(data.Y, index, axis=0)
        lengths = [data.lengths[i] for i in rows]
        H, _, _ = run_network(spec, params, X, lengths=lengths, keep_cache=False)
        step_mask = np.zeros((len(rows), X.shape[1]))
        for j, n in enumerate(lengths):
            step_mask[j, config.washout:n] = 1.0
        step_mask = to_namespace(step_mask, xp, dtype=X.dtype, device=device_of(X))
        pooled = pool(spec, H, pool_weights(spec, step_mask, lengths, config.pooling, H))
        ones = xp.ones((len(rows),), dtype=X.dtype, device=device_of(X))
        return score(config.loss, readout(params, pooled), Y, ones)
    Y_hat, _, _ = forward(spec, params, data.X, lengths=data.lengths, keep_cache=False)
    return score(config.loss, Y_hat, data.Y, mask)


# Below this many multiply-adds per recurrent product, BLAS threads cost more
# in synchronisation than they save: measured on 2 cores, an LSTM of 32 units
# trains 2.7x faster single-threaded, one of 128 units 5x faster.
_SINGLE_THREAD_MAX_MACS = 1 << 21


def _blas_threads(spec, batch_size, xp):
    """Context limiting NumPy's BLAS to one thread when the per-step products are small."""
    macs = batch_size * spec.n_units * spec.n_gates * spec.n_units
    return limit_blas_threads(xp, macs <= _SINGLE_THREAD_MAX_MACS)


def _epochs(config):
    if not config.verbose:
        return range(config.max_iter), None
    try:
        from tqdm.auto import tqdm
    except ImportError:  # tqdm is optional: fall back to one line per epoch
        return range(config.max_iter), None
    bar = tqdm(range(config.max_iter), desc=f"training {config.name}", unit="epoch")
    return bar, bar


def _diverged(config, epoch, what, value, learning_rate):
    hint = "" if config.clip_norm is not None else ", set clip_norm"
    return FloatingPointError(
        f"training diverged at epoch {epoch + 1}: the {what} became {value}. Lower "
        f"learning_rate_init (got {config.learning_rate_init}, current rate {learning_rate:.3g})"
        f"{hint}, or standardise the data"
    )


def _optimizer(config, params):
    # Biases are not decayed: shrinking them towards zero regularises nothing.
    decayed = [name for name in params if name.startswith("W")]
    if config.solver == "adam":
        return AdamOptimizer(params, beta_1=config.beta_1, beta_2=config.beta_2,
                             epsilon=config.epsilon, weight_decay=config.weight_decay,
                             decayed=decayed)
    return SGDOptimizer(params, momentum=config.momentum, weight_decay=config.weight_decay,
                        decayed=decayed)


def train(spec, params, data, config, rng):
    """Fit ``params`` by gradient descent.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of str to array
        Initial parameters on the namespace and dtype of ``data.X``.
    data : TrainingData
    config : TrainingConfig
    rng : numpy.random.Generator
        Window offsets, shuffling, the validation split of series, dropout
        and zoneout masks.

    Returns
    -------
    TrainingResult
    """
    xp = get_namespace(data.X, data.Y)
    n_series = len(data.lengths)
    train_rows, val_rows, val_mask = list(range(n_series)), None, None
    ends = list(data.lengths)
    if config.early_stopping and data.per_series:
        train_rows, val_rows = split_series(n_series, validation_fraction=config.validation_fraction,
                                            rng=rng)
    elif config.early_stopping:
        ends = split_validation(data.lengths, washout=config.washout,
                                validation_fraction=config.validation_fraction)
        host = np.zeros((n_series, data.X.shape[1]))
        for i, (e, n) in enumerate(zip(ends, data.lengths, strict=True)):
            host[i, e:n] = 1.0
        val_mask = to_namespace(host, xp, dtype=data.X.dtype, device=device_of(data.X))
    optimizer = _optimizer(config, params)
    params = dict(params)
    loss_curve, val_scores = [], [] if config.early_stopping else None
    best_loss, best_score, best_params = math.inf, -math.inf, None
    no_improvement, converged = 0, False
    epochs, bar = _epochs(config)
    # Overflow is detected below, from the loss and the gradient norm, and
    # reported as divergence; NumPy's own warnings would only precede it.
    closing = contextlib.nullcontext() if bar is None else contextlib.closing(bar)
    with np.errstate(over="ignore", invalid="ignore"), _blas_threads(spec, config.batch_size, xp), \
            closing:
        for epoch in epochs:
            lr = scheduled_learning_rate(config.learning_rate, config.learning_rate_init, epoch,
                                         max_iter=config.max_iter, power_t=config.power_t)
            if data.per_series:
                windows = [(i, 0, data.lengths[i]) for i in rng.permutation(train_rows)]
            else:
                windows = make_windows(ends, sequence_length=config.sequence_length,
                                       washout=config.washout, rng=rng, stride=config.stride)
            total, counted = 0.0, 0.0
            for b in range(0, len(windows), config.batch_size):
                Xb, Yb, mask, lengths = _assemble(data, windows[b:b + config.batch_size],
                                                  config.washout, xp)
                noise = draw_noise(spec, Xb.shape[0], Xb.shape[1], rng, dropout=config.dropout,
                                   input_dropout=config.input_dropout, like=Xb)
                chunks = iter_bptt(spec, params, Xb, Yb, mask, config.bptt_steps, lengths=lengths,
                                   noise=noise, loss=config.loss, pooling=config.pooling,
                                   gradient=config.gradient)
                for loss, grads, n in chunks:
                    if n == 0:
                        continue
                    if not math.isfinite(loss):
                        raise _diverged(config, epoch, "loss", loss, lr)
                    grads, norm = clip_gradient_norm(grads, config.clip_norm)
                    if not math.isfinite(norm):
                        raise _diverged(config, epoch, "gradient norm", norm, lr)
                    params.update(optimizer.update(params, grads, lr))
                    total += loss * n
                    counted += n
            loss_curve.append(total / counted)
            message = f"epoch {epoch + 1}, loss = {loss_curve[-1]:.6g}"
            if config.early_stopping:
                value = _validation_score(spec, params, data, val_rows, val_mask, config)
                val_scores.append(value)
                message += f", validation score = {value:.6g}"
                no_improvement = no_improvement + 1 if value < best_score + config.tol else 0
                if value > best_score:
                    best_score, best_params = value, dict(params)
            else:
                stalled = loss_curve[-1] > best_loss - config.tol
                no_improvement = no_improvement + 1 if stalled else 0
            best_loss = min(best_loss, loss_curve[-1])
            if bar is not None:
                bar.set_postfix_str(message.split(", ", 1)[1])
            elif config.verbose:
                print(message)
            if no_improvement > config.n_iter_no_change:
                converged = True
                if config.verbose:
                    what = "Validation score" if config.early_stopping else "Training loss"
                    print(f"{what} did not improve more than tol={config.tol} for "
                          f"{config.n_iter_no_change} consecutive epochs. Stopping.")
                break
    if not converged:
        warn(
            f"{config.name}: maximum iterations ({config.max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
        )
    if config.early_stopping and best_params is not None:
        params = best_params
    return TrainingResult(
        params=params,
        loss_curve=loss_curve,
        n_iter=len(loss_curve),
        best_loss=best_loss,
        validation_scores=val_scores,
        best_validation_score=best_score if config.early_stopping else None,
        converged=converged,
    )
