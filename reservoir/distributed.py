"""Fitting from Dask collections: the readout's statistics map-reduced on a cluster.

The ridge readout depends on the data only through the centred sums of a
:class:`reservoir.readout.GramAccumulator` (F^2 + F k + F + k floats for F
readout features and k outputs), and sums over series or time chunks merge
exactly (Chan, Golub & LeVeque 1979). Fitting from a Dask collection is
therefore a map-reduce, run by Dask (``dask[distributed]``, the optional
extra ``dask``):

1. the weights are drawn once on the client from ``random_state``, exactly as
   the in-memory ``fit`` draws them, and the model is scattered to every
   worker once (``Client.scatter(..., broadcast=True)``), not sent with
   every task;
2. one task per block of series runs the reservoir over its series from the
   zero state and returns its partial statistics (and each series' final
   state, last target and target range, which the fitted model keeps);
3. the partial statistics are merged in a tree on the cluster
   (``split_every`` at a time) and the client solves the ridge system once.

Several series (a 3-D Dask array chunked along series, a Dask bag of series
or a list of delayed series) give the in-memory fit's coefficients to
rounding. One long series (a 2-D Dask array chunked in time) is fitted chunk
by chunk: every chunk after the first starts from the zero state with the
last ``overlap`` steps of the data before it as its washout, which the echo
state property makes approximate; docs/scaling.rst gives the error against
the overlap.

Importing this module never imports Dask: :func:`is_dask_collection` is how
the estimators recognise a collection, and it looks Dask up in
``sys.modules`` only (a Dask object cannot exist before Dask is imported).
"""

from __future__ import annotations

import copy
import sys
import uuid

import numpy as np

from ._backend import device_kwargs, to_numpy
from ._rows import StepCollector, rows_at, step_mask
from ._validation import check_generator, check_interval, validate_series

__all__ = ["fit", "is_dask_collection"]

_FITTED_STATE = ("_stream", "readout_", "_final_output", "_final_state", "final_state_",
                 "_final_target", "_target_range", "_readout_functions", "feature_names_in_")


def is_dask_collection(X):
    """Whether X is a Dask collection, or a list or tuple holding some.

    Never imports Dask: when Dask has not been imported, nothing can be a
    Dask collection.

    Parameters
    ----------
    X : object

    Returns
    -------
    bool

    Examples
    --------
    >>> import numpy as np
    >>> from reservoir.distributed import is_dask_collection
    >>> is_dask_collection(np.zeros((10, 2)))
    False
    """
    dask = sys.modules.get("dask")
    if dask is None or not hasattr(dask, "is_dask_collection"):
        return False
    if isinstance(X, (list, tuple)):
        return any(dask.is_dask_collection(x) for x in X)
    return bool(dask.is_dask_collection(X))


# --------------------------------------------------------------------------- tasks
# Run on the workers. They never change their arguments: a task lost with its
# worker is run again from the same inputs and gives the same result.


def _packed(accumulator):
    """The statistics as a dict of NumPy arrays (and counts), whatever the data's array library.

    Merging and solving then run on any machine, and Dask sizes a dict by
    its arrays (an object of another class counts only its own few bytes),
    which it needs to place the merges near their inputs and to account for
    what moves between workers.
    """
    state = {k: v for k, v in vars(accumulator).items() if not k.startswith("_")}   # no caches
    for name in ("mean_x", "mean_y", "xx", "xy"):
        state[name] = np.asarray(to_numpy(state[name]))
    return state


def _unpacked(state):
    from .readout import GramAccumulator

    accumulator = GramAccumulator.__new__(GramAccumulator)
    accumulator.__dict__.update(state)
    return accumulator


def _host(a):
    return np.asarray(to_numpy(a))


def _block_labels(y, classes):
    """Labels of a block as integer codes of ``classes``, in y's structure."""
    def encode(labels):
        labels = np.asarray(_host(labels) if hasattr(labels, "shape") else labels)
        codes = np.searchsorted(classes, labels)
        codes = np.clip(codes, 0, len(classes) - 1)
        if not np.all(classes[codes] == labels):
            raise ValueError(f"y holds labels outside the classes found in y: {labels!r}")
        return codes

    if isinstance(y, (list, tuple)) and len(y) and np.ndim(y[0]) != 0:
        return [encode(t) for t in y]
    return encode(y)


def _block_targets(model, X, y):
    """(targets for validate_series, per-series labels?) of one block of a classifier."""
    from ._base import labels_per_series

    per_series = labels_per_series(X, y)
    codes = _block_labels(y, model.classes_)
    if isinstance(codes, list):
        return [model._indicator(c) for c in codes], per_series
    return model._indicator(codes), per_series


def _one_step_pairs(data, Y, lengths, own, xp):
    """(number of pairs, all equal): X[t + 1] == y[t] over the steps t >= own of each series."""
    if Y.shape[2] != data.shape[2]:
        return 0, False
    c = int(data.shape[1]) - own - 1
    if c < 1:
        return 0, True
    counted = step_mask(0, c, np.asarray(lengths) - own - 1, 0)
    equal = _host(xp.all(data[:, own + 1:, :] == Y[:, own:-1, :], axis=2))
    return int(counted.sum()), bool(np.all(equal[counted]))


def _partial_statistics(model, X, y, rng, washout, own, min_length):
    """One task: the partial statistics of a block, and what the fitted model keeps of it.

    ``washout`` is the block's own (the estimator's for whole series; for a
    time chunk, its overlap or what is left of the estimator's washout);
    ``own`` is the chunk's first step that is not overlap (0 for whole
    series).
    """
    model = copy.copy(model)
    model._noise_rng = copy.deepcopy(rng)
    model.washout = washout
    features = model._validate_readout_params()
    classifier = hasattr(model, "classes_")
    if classifier:
        y, per_series = _block_targets(model, X, y)
    else:
        per_series = False
    batch, Y, y_one_d = validate_series(model, X, y, reset=False, dtype=model.dtype,
                                        min_length=min_length, y_per_series=per_series)
    xp = batch.xp
    dtype = model._target_dtype(xp)
    accumulator = model._accumulator(features, int(Y.shape[-1]), batch.data)
    summary = dict(n_series=batch.n_series, lengths=[int(n) for n in batch.lengths],
                   n_outputs=int(Y.shape[-1]), y_one_d=y_one_d, per_series=per_series,
                   own=own)
    if classifier:
        final = model._accumulate_batch(accumulator, batch, Y, features, per_series)
    else:
        from .esn import _shift_right

        teacher = None
        if model._feedback() is not None:
            zeros = xp.zeros((batch.n_series, int(Y.shape[2])), dtype=dtype,
                             **device_kwargs(Y, xp))
            teacher = _shift_right(Y, zeros)
        inputs = model._training_inputs(batch.data, dtype)
        collector = StepCollector(np.asarray(batch.lengths) - 1)
        for t0, S in model._run_states(inputs, None, previous_outputs=teacher,
                                       noise=model._noise(xp, dtype, batch.data)):
            model._accumulate_steps(accumulator, inputs, batch.lengths, S, Y, t0, features)
            collector.update(S, t0, xp)
        final = collector.result(xp)
        mine = Y[:, own:, :]
        summary.update(
            last_target=_host(rows_at(Y, np.asarray(batch.lengths) - 1, xp)),
            target_range=model._fitted_range(mine, [n - own for n in batch.lengths], xp),
            pairs=_one_step_pairs(batch.data, Y, batch.lengths, own, xp),
            first_input=_host(batch.data[0, own, :]),
        )
    summary["final_state"] = _host(final)
    return _packed(accumulator), [summary]


def _merge_partials(*parts):
    """Merge partial statistics, keeping the blocks' summaries in order."""
    accumulator = _unpacked(parts[0][0])
    summaries = list(parts[0][1])
    for other, more in parts[1:]:
        accumulator.merge(_unpacked(other))
        summaries.extend(more)
    return _packed(accumulator), summaries


def _unique_labels(y):
    """The distinct labels of a block (per series, per step, or a list per series)."""
    if isinstance(y, (list, tuple)) and len(y) and np.ndim(y[0]) != 0:
        return np.unique(np.concatenate([np.ravel(_host(t) if hasattr(t, "shape") else t)
                                         for t in y]))
    return np.unique(np.ravel(_host(y) if hasattr(y, "shape") else np.asarray(y)))


def _block_widths(X, y):
    """(n_features, n_outputs) of a block, read from its first series."""
    first_x = X[0] if isinstance(X, (list, tuple)) else X
    first_y = y[0] if isinstance(y, (list, tuple)) else y
    shape_x, shape_y = np.shape(first_x), np.shape(first_y)
    n_features = 1 if len(shape_x) == 1 else int(shape_x[-1])
    n_outputs = 1 if len(shape_y) <= 1 else int(shape_y[-1])
    return n_features, n_outputs


# --------------------------------------------------------------------------- blocks


class _Blocks:
    """A collection cut into the tasks' blocks, with what the client knows of it.

    Each block is (X block, y block, washout, own): ``washout`` is None for
    whole series (the estimator's applies) or a time chunk's own; ``own`` is
    the chunk's first step that is not overlap (0 for whole series).
    """

    def __init__(self, layout, blocks, n_features=None, n_outputs=None):
        self.layout = layout
        self.blocks = blocks
        self.n_features = n_features
        self.n_outputs = n_outputs


def _aligned_y(y, n_rows, what):
    """y as an array (NumPy or Dask, left where it lives) with one row per series or step."""
    if not hasattr(y, "shape"):
        y = np.asarray(y)
    if len(y.shape) == 0 or int(y.shape[0]) != n_rows:
        raise ValueError(f"y has shape {tuple(y.shape)} but X has {n_rows} {what}; targets are "
                         f"aligned with the {what} of X")
    return y


def _bounds(chunks):
    stops = np.cumsum(chunks)
    return [(int(a), int(b)) for a, b in zip(np.concatenate([[0], stops[:-1]]), stops, strict=True)]


def _known_chunks(chunks, axis):
    if any(np.isnan(c) for c in chunks):
        raise ValueError(f"X has unknown chunk sizes along its {axis} axis; call "
                         "X.compute_chunk_sizes() first")


def _too_short(n_steps, washout, what):
    if n_steps < washout + 1:
        raise ValueError(
            f"{what} {n_steps} time steps, fewer than the {washout + 1} needed "
            f"(washout={washout} plus at least one step to train on)")


def _cut(X, y, *, washout, overlap, classifier):
    """Cut a Dask collection into blocks of whole series, or one series into time chunks."""
    import dask
    import dask.array as da
    import dask.bag as db

    if isinstance(X, da.Array) and X.ndim == 2:
        return _time_chunks(X, y, washout=washout, overlap=overlap, classifier=classifier)
    if overlap is not None:
        raise ValueError(
            f"overlap={overlap} applies to one series chunked in time (a 2-D Dask array); "
            "whole series are each fitted from their first step")
    if isinstance(X, da.Array):
        if X.ndim != 3:
            raise ValueError(
                "a Dask array X must be 3-D (n_series, n_timesteps, n_features), chunked along "
                "series, or 2-D (n_timesteps, n_features), one series chunked in time; got "
                f"shape {X.shape}")
        _known_chunks(X.chunks[0], "series")
        n_series, n_steps, n_features = (int(n) for n in X.shape)
        _too_short(n_steps, washout, "the series of X have")
        y = _aligned_y(y, n_series, "series")
        n_outputs = None if classifier else (1 if len(y.shape) == 2 else int(y.shape[-1]))
        blocks = [(X[a:b], y[a:b], None, 0) for a, b in _bounds(X.chunks[0])]
        return _Blocks("array", blocks, n_features, n_outputs)
    if isinstance(X, db.Bag):
        if not isinstance(y, db.Bag) or y.npartitions != X.npartitions:
            raise ValueError(
                "a Dask bag of series needs y as a Dask bag of target series (or labels) with the "
                f"same {X.npartitions} partitions, one item per series; got {type(y).__name__}")
        return _Blocks("list", [(xb, yb, None, 0) for xb, yb in
                                zip(X.to_delayed(), y.to_delayed(), strict=True)])
    if isinstance(X, (list, tuple)):
        if not isinstance(y, (list, tuple)) and not hasattr(y, "shape"):
            raise ValueError("a list of delayed series needs y as a list (or an array) with one "
                             f"target series or label per series; got {type(y).__name__}")
        if len(y) != len(X):
            raise ValueError(f"X has {len(X)} series but y has {len(y)}; expected one target "
                             "series (or label) per series")
        blocks = []
        for x, t in zip(X, y, strict=True):
            # A label (one per series) or a target series of this one series.
            label = not dask.is_dask_collection(t) and np.ndim(t) == 0
            blocks.append(([x], np.asarray([t]) if label else [t], None, 0))
        return _Blocks("list", blocks)
    raise TypeError(
        "X must be a Dask array, a Dask bag of series or a list of delayed series; got "
        f"{type(X).__name__}")


def _time_chunks(X, y, *, washout, overlap, classifier):
    """One series (n_timesteps, n_features) cut along X's chunks, each with an overlap."""
    if overlap is None:
        overlap = washout
    check_interval("overlap", overlap, low=0, integer=True)
    _known_chunks(X.chunks[0], "time")
    n_steps, n_features = (int(n) for n in X.shape)
    _too_short(n_steps, washout, "X has")
    bounds = _bounds(X.chunks[0])
    if len(bounds) > 1 and overlap == 0:
        raise ValueError(
            "one series chunked in time needs an overlap: every chunk after the first starts "
            "from the zero state, and its first steps, taken from the data before it, are its "
            "washout. Set washout > 0 on the estimator (fit uses it as the overlap), or call "
            "reservoir.distributed.fit(estimator, X, y, overlap=...) with overlap >= 1")
    y = _aligned_y(y, n_steps, "time steps")
    n_outputs = None if classifier else (1 if len(y.shape) == 1 else int(y.shape[-1]))
    blocks = []
    for start, stop in bounds:
        low = max(0, start - overlap)
        # The steps before the estimator's washout train in no chunk, as in
        # the sequential fit; an overlap trains only in the chunk it belongs to.
        skip = min(max(start, washout) - low, stop - low)
        blocks.append((X[low:stop], y[low:stop], skip, start - low))
    return _Blocks("single", blocks, n_features, n_outputs)


# --------------------------------------------------------------------------- client


def _default_client(client):
    if client is not None:
        return client
    try:
        from distributed import default_client
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


def _compute(client, *collections):
    import dask

    if client is not None:
        return client.compute(list(collections), sync=True)
    return list(dask.compute(*collections))


def _check_estimator(estimator):
    """Whether the estimator is a classifier; a clear error for what cannot be fitted here."""
    from .classifier import ESNClassifier
    from .esn import ESNRegressor
    from .readout import RidgeReadout

    if not isinstance(estimator, (ESNRegressor, ESNClassifier)):
        raise TypeError(
            "reservoir.distributed.fit fits ESNRegressor, ESNClassifier and their subclasses "
            f"(the deep ESNs); got {type(estimator).__name__}")
    features = estimator._validate_readout_params()
    if isinstance(estimator, ESNClassifier):
        estimator._validate_classifier_params()
        return True, features, None
    readout = estimator._new_readout(features)
    if not isinstance(readout, RidgeReadout):
        raise ValueError(
            f"readout={estimator.readout!r} learns step after step in time order, which cannot "
            "be split across workers; fitting from a Dask collection solves the ridge readout "
            "from merged statistics. Use readout=None (or a RidgeReadout), or compute the "
            "collection and fit in memory")
    if estimator._feedback() is not None:
        check_interval("feedback_scaling", estimator._feedback(), low=0)
    return False, features, readout


def fit(estimator, X, y, *, overlap=None, client=None, split_every=8):
    """Fit an echo state network from Dask collections, on a Dask cluster.

    The estimator's own ``fit`` calls this when X is a Dask collection. The
    weights are drawn on the client (the in-memory fit's weights for the
    same ``random_state``) and scattered once to every worker; each task
    runs the reservoir over one block and returns its readout statistics
    (a :class:`reservoir.readout.GramAccumulator`); the statistics are merged
    in a tree on the cluster and solved once on the client. The fitted model
    is an ordinary in-memory model with NumPy coefficients: it predicts,
    forecasts, continues with ``partial_fit``, pickles and saves like any
    other.

    Layouts of X:

    * a Dask array of shape (n_series, n_timesteps, n_features), chunked
      along series: one task per chunk; y is an array (NumPy or Dask) of
      shape (n_series, n_timesteps[, n_outputs]), or (n_series,) for
      per-series class labels;
    * a Dask bag of series (items of shape (n_timesteps, n_features),
      lengths may differ): one task per partition; y is a bag of target
      series (or labels) with the same partitions;
    * a list of delayed series (``dask.delayed`` objects or Dask arrays, one
      series each): one task per series; y is a list (or array) of target
      series or labels.

    These give the in-memory fit's coefficients to rounding. A Dask array
    of shape (n_timesteps, n_features) is one series chunked in time: each
    chunk after the first starts from the zero state with the ``overlap``
    steps before it as its washout, an approximation that the echo state
    property makes good with a long enough overlap (docs/scaling.rst gives
    the coefficient error against the overlap).

    Training noise (``noise_level``, ``input_noise``) is drawn per block from
    children of the model's noise generator: the in-memory fit's law, other
    draws, the same for the same chunking.

    Parameters
    ----------
    estimator : ESNRegressor, ESNClassifier or a subclass (the deep ESNs)
        Fitted in place, with the ridge readout (online readouts learn step
        after step in time order and cannot be split across workers).
    X : Dask collection (see above)
    y : targets or labels aligned with X (see above)
    overlap : int, optional
        For one series chunked in time: the steps of the data before each
        chunk that it runs through as its washout. The estimator's
        ``washout`` when None (which must then be at least 1).
    client : distributed.Client, optional
        The cluster to run on; the current client when None, and Dask's
        local scheduler (threads, no scattering) when there is none.
    split_every : int, default=8
        Partial statistics merged by each task of the reduction tree.

    Returns
    -------
    estimator
    """
    import dask

    classifier, features, readout = _check_estimator(estimator)
    check_interval("split_every", split_every, low=2, integer=True)
    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target "
                         "y is None")
    washout = int(estimator.washout)
    blocks = _cut(X, y, washout=washout, overlap=overlap, classifier=classifier)
    if classifier and estimator.bidirectional and len(blocks.blocks) > 1 and (
            blocks.layout == "single"):
        raise ValueError(
            "bidirectional=True runs each series backwards from its end, which a chunk of one "
            "long series does not hold; give several series, or fit this one in memory")
    client = _default_client(client)
    delayed = dask.delayed

    if blocks.n_features is None:
        xb, yb, _, _ = blocks.blocks[0]
        ((blocks.n_features, n_outputs),) = _compute(client, delayed(_block_widths)(xb, yb))
        blocks.n_outputs = n_outputs
    for name in _FITTED_STATE:
        if hasattr(estimator, name):
            delattr(estimator, name)
    if classifier:
        uniques = _compute(client, *[delayed(_unique_labels)(yb) for _, yb, _, _ in blocks.blocks])
        estimator._encode(np.concatenate([np.ravel(u) for u in uniques]), False, None)
    estimator.n_features_in_ = blocks.n_features
    feedback = None if classifier else estimator._feedback()
    estimator._draw(blocks.n_features, check_generator(estimator.random_state),
                    n_feedback=None if feedback is None else blocks.n_outputs)
    rngs = estimator._noise_rng.spawn(len(blocks.blocks))

    # The model (weights and all) goes to every worker once; tasks refer to it.
    if client is not None:
        model = client.scatter(estimator, broadcast=True, hash=False)
    else:
        model = delayed(estimator, name=f"reservoir-model-{uuid.uuid4().hex}")
    parts = []
    for (xb, yb, chunk_washout, own), rng in zip(blocks.blocks, rngs, strict=True):
        whole = chunk_washout is None
        parts.append(delayed(_partial_statistics)(
            model, xb, yb, rng, washout if whole else chunk_washout, own,
            washout + 1 if whole else 1))
    while len(parts) > 1:
        parts = [delayed(_merge_partials)(*parts[i:i + split_every])
                 if len(parts) - i > 1 else parts[i]
                 for i in range(0, len(parts), split_every)]
    ((statistics, summaries),) = _compute(client, parts[0])
    return _finish(estimator, _unpacked(statistics), summaries, features, blocks.layout, readout,
                   classifier)


def _finish(estimator, accumulator, summaries, features, layout, readout, classifier):
    """Solve the merged statistics; keep what the in-memory fit keeps of the data's end."""
    (n_outputs,), (y_one_d,) = _same(summaries, "n_outputs"), _same(summaries, "y_one_d")
    dtype = estimator._target_dtype(np)
    if layout == "single":
        final_state = summaries[-1]["final_state"]
        lengths = [sum(s["lengths"][0] - s["own"] for s in summaries)]
    else:
        final_state = np.concatenate([s["final_state"] for s in summaries], axis=0)
        lengths = [n for s in summaries for n in s["lengths"]]
    final_state = np.asarray(final_state, dtype=dtype)
    if classifier:
        (per_series,) = _same(summaries, "per_series")
        estimator._finish_fit(accumulator, features, n_outputs=n_outputs, y_one_d=False,
                              dtype=dtype)
        estimator._per_series = per_series
        estimator._one_step_ahead = False
    else:
        estimator._finish_fit(accumulator, features, n_outputs=n_outputs, y_one_d=y_one_d,
                              dtype=dtype, readout=readout)
        estimator._y_one_d = y_one_d
        # What SequenceEstimatorMixin._record_fit_end keeps, gathered from the blocks.
        last = [summaries[-1]["last_target"]] if layout == "single" else [
            s["last_target"] for s in summaries]
        estimator._final_target = np.asarray(np.concatenate(last), dtype=dtype)
        ranges = np.stack([s["target_range"] for s in summaries])
        estimator._target_range = np.stack([ranges[:, 0].min(axis=0), ranges[:, 1].max(axis=0)])
        n_pairs = sum(s["pairs"][0] for s in summaries)
        equal = all(s["pairs"][1] for s in summaries)
        if layout == "single" and n_outputs == estimator.n_features_in_:
            # The pairs (y[t], X[t + 1]) that cross from one chunk into the next.
            for before, after in zip(summaries[:-1], summaries[1:], strict=True):
                n_pairs += 1
                equal = equal and bool(np.all(before["last_target"][0] == after["first_input"]))
        estimator._one_step_ahead = n_pairs > 0 and equal
        # partial_fit continues from here, as after an in-memory fit.
        estimator._stream = dict(
            n_series=len(lengths), n_outputs=n_outputs, y_one_d=y_one_d,
            readout=estimator.readout_, steps=np.asarray(lengths, dtype=np.int64),
            accumulator=accumulator)
    estimator._final_state = final_state
    estimator._fit_layout = layout
    estimator.final_state_ = final_state[0, ...] if layout == "single" else final_state
    return estimator


def _same(summaries, key):
    """The one value that every block agrees on, as a 1-tuple; a clear error otherwise."""
    values = {s[key] for s in summaries}
    if len(values) > 1:
        raise ValueError({
            "n_outputs": f"all target series must have the same number of outputs, got "
                         f"{sorted(values)}",
            "y_one_d": "target series in y mix 1-D and 2-D arrays; give them all the same shape",
            "per_series": "some blocks of y hold one label per series and others one label per "
                          "step; give every series the same kind of labels",
        }[key])
    return tuple(values)
