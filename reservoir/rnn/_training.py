"""Training loop: mini-batches of subsequences, full or truncated BPTT.

One epoch cuts every training series into windows of ``sequence_length``
steps (random offset each epoch, consecutive windows overlapping by
``washout`` steps so that every step after a window's washout is trained on),
shuffles the windows and groups them into mini-batches. Each window starts
from the zero state, as :meth:`predict` does, and its first ``washout`` steps
are left out of the loss. A mini-batch is trained either with full BPTT (one
gradient over the whole window) or with truncated BPTT: the window is cut into
chunks of ``bptt_steps``, the state is carried from chunk to chunk, the
gradient stops at chunk boundaries and the parameters are updated after each
chunk (Williams & Peng 1990; Sutskever 2013, section 3.4).

The stopping rules follow scikit-learn's MLP: stop when the training loss
(or, with ``early_stopping``, the validation score) has not improved by
``tol`` for ``n_iter_no_change`` consecutive epochs; otherwise warn with
:class:`~sklearn.exceptions.ConvergenceWarning` after ``max_iter`` epochs.
A non-finite loss or gradient stops training with ``FloatingPointError``.
"""

from __future__ import annotations

import contextlib
import math
import warnings
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from .._backend import device_of, get_namespace, limit_blas_threads, to_namespace
from ._cells import forward, loss_and_gradient
from ._optimizers import AdamOptimizer, SGDOptimizer, clip_gradient_norm, scheduled_learning_rate

__all__ = [
    "TrainingConfig",
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
    batch_size: int = 32
    bptt_steps: int | None = None
    solver: str = "adam"
    learning_rate: str = "constant"
    learning_rate_init: float = 1e-3
    power_t: float = 0.5
    momentum: float = 0.9
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8
    clip_norm: float | None = 1.0
    max_iter: int = 200
    tol: float = 1e-4
    n_iter_no_change: int = 10
    early_stopping: bool = False
    validation_fraction: float = 0.1
    verbose: bool = False
    name: str = "network"


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
    """Where each series' validation tail begins.

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


def make_windows(ends, *, sequence_length, washout, rng):
    """Training windows ``(series, start, stop)`` for one epoch, shuffled.

    Series no longer than ``sequence_length`` (or all series when it is
    None) give one window each. Longer ones are cut into windows of
    ``sequence_length`` steps starting at a random offset, each overlapping
    the previous one by ``washout`` steps.
    """
    windows = []
    for i, n in enumerate(ends):
        if sequence_length is None or n <= sequence_length:
            windows.append((i, 0, n))
            continue
        stride = sequence_length - washout
        start = int(rng.integers(0, min(stride, n - sequence_length) + 1))
        while start + sequence_length <= n:
            windows.append((i, start, start + sequence_length))
            start += stride
    order = rng.permutation(len(windows))
    return [windows[j] for j in order]


def _assemble(X, Y, windows, washout, xp):
    """Stack windows into a right-padded batch with its loss mask."""
    length = max(stop - start for _, start, stop in windows)
    dev = device_of(X)

    def take(A, s, start, stop):
        piece = A[s, start:stop, :]
        if stop - start == length:
            return piece
        pad = xp.zeros((length - (stop - start), A.shape[2]), dtype=A.dtype, device=dev)
        return xp.concat([piece, pad], axis=0)

    Xb = xp.stack([take(X, s, a, b) for s, a, b in windows], axis=0)
    Yb = xp.stack([take(Y, s, a, b) for s, a, b in windows], axis=0)
    mask = np.zeros((len(windows), length))
    for j, (_, a, b) in enumerate(windows):
        mask[j, washout:b - a] = 1.0
    return Xb, Yb, to_namespace(mask, xp, dtype=X.dtype, device=dev)


def iter_bptt(spec, params, X, Y, mask, bptt_steps):
    """Loss and gradient of each BPTT chunk of a batch, carrying the state.

    With ``bptt_steps=None`` there is a single chunk (full BPTT). Otherwise
    chunk j covers steps ``[j k, (j + 1) k)``, starts from the final state of
    chunk j - 1, and its gradient treats that state as a constant. The
    forward pass of each chunk reads ``params`` when the chunk is reached, so
    a caller that updates the dict in place between chunks trains with
    truncated BPTT.

    Yields
    ------
    loss : float
    grads : dict of str to array
    n_counted : float
        Steps of the chunk that entered the loss (0: nothing to learn from).
    """
    T = X.shape[1]
    k = T if bptt_steps is None else bptt_steps
    state = None
    for start in range(0, T, k):
        stop = min(start + k, T)
        loss, grads, state, n = loss_and_gradient(
            spec, params, X[:, start:stop, :], Y[:, start:stop, :], mask[:, start:stop], state
        )
        yield loss, grads, n


def validation_score(spec, params, X, Y, mask):
    """Coefficient of determination R^2 over the masked steps, averaged over outputs."""
    xp = get_namespace(X, Y)
    Y_hat, _, _ = forward(spec, params, X)
    w = mask[:, :, None]
    count = xp.sum(mask)
    mean = xp.sum(w * Y, axis=(0, 1)) / count
    sse = xp.sum(w * (Y_hat - Y) ** 2, axis=(0, 1))
    sst = xp.sum(w * (Y - mean) ** 2, axis=(0, 1))
    scores = []
    for j in range(Y.shape[2]):
        e, s = float(sse[j]), float(sst[j])
        scores.append(1.0 - e / s if s > 0 else (1.0 if e == 0 else 0.0))
    return sum(scores) / len(scores)


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


def train(spec, params, X, Y, lengths, config, rng):
    """Fit ``params`` to teacher-forced targets by gradient descent.

    Parameters
    ----------
    spec : NetworkSpec
    params : dict of str to array
        Initial parameters on the namespace and dtype of ``X``.
    X : array of shape (n_series, n_timesteps, n_features)
        Right-padded when the series have different lengths.
    Y : array of shape (n_series, n_timesteps, n_outputs)
    lengths : list of int
    config : TrainingConfig
    rng : numpy.random.Generator
        Window offsets and shuffling.

    Returns
    -------
    TrainingResult
    """
    xp = get_namespace(X, Y)
    if config.early_stopping:
        ends = split_validation(lengths, washout=config.washout,
                                validation_fraction=config.validation_fraction)
        val_mask = np.zeros((len(lengths), X.shape[1]))
        for i, (e, n) in enumerate(zip(ends, lengths, strict=True)):
            val_mask[i, e:n] = 1.0
        val_mask = to_namespace(val_mask, xp, dtype=X.dtype, device=device_of(X))
    else:
        ends = list(lengths)
    if config.solver == "adam":
        optimizer = AdamOptimizer(params, beta_1=config.beta_1, beta_2=config.beta_2,
                                  epsilon=config.epsilon)
    else:
        optimizer = SGDOptimizer(params, momentum=config.momentum)
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
            windows = make_windows(ends, sequence_length=config.sequence_length,
                                   washout=config.washout, rng=rng)
            total, counted = 0.0, 0.0
            for b in range(0, len(windows), config.batch_size):
                Xb, Yb, mask = _assemble(X, Y, windows[b:b + config.batch_size], config.washout, xp)
                for loss, grads, n in iter_bptt(spec, params, Xb, Yb, mask, config.bptt_steps):
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
                score = validation_score(spec, params, X, Y, val_mask)
                val_scores.append(score)
                message += f", validation score = {score:.6g}"
                no_improvement = no_improvement + 1 if score < best_score + config.tol else 0
                if score > best_score:
                    best_score, best_params = score, dict(params)
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
        warnings.warn(
            f"{config.name}: maximum iterations ({config.max_iter}) reached and the "
            "optimization hasn't converged yet.",
            ConvergenceWarning,
            stacklevel=3,
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
