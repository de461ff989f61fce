"""Picking time steps out of padded batches of series, without leaving the device.

A batch of series of different lengths is stored right-padded, shape
(n_series, max_length, F). These helpers select the steps that count (after
the washout, before each series' end) or one given step per series, with the
index arithmetic on the host and one gather per chunk on the data's device.
"""

from __future__ import annotations

import numpy as np

from ._backend import device_kwargs, to_namespace

__all__ = ["StepCollector", "rows_at", "step_mask", "take_rows", "valid_rows"]


def take_rows(blocks, flat_index, xp):
    """Rows ``flat_index`` (host ints) of a (B, c, F) array flattened to (B * c, F)."""
    B, c, F = blocks.shape
    flat = xp.reshape(blocks, (B * c, F))
    if flat_index.size == B * c:
        return flat
    return xp.take(flat, to_namespace(flat_index, xp, **device_kwargs(blocks, xp)), axis=0)


def step_mask(t0, c, lengths, washout):
    """(B, c) host booleans: step t of series i counts when washout <= t < length_i."""
    t = np.arange(t0, t0 + c)
    return (t >= washout) & (t < np.asarray(lengths)[:, None])


def valid_rows(t0, c, lengths, washout):
    """Flat indices of the steps of a chunk that count (see :func:`step_mask`), or None."""
    valid = step_mask(t0, c, lengths, washout)
    return np.flatnonzero(valid) if valid.any() else None


def rows_at(data, steps, xp):
    """``data[i, steps[i], :]`` for every series i, as (n_series, F)."""
    steps = np.asarray(steps)
    return take_rows(data, np.arange(steps.size) * data.shape[1] + steps, xp)


class StepCollector:
    """Collects each series' row at one given step from a stream of chunks.

    Used for the state at each series' last step (its final state), which
    falls in a different chunk for series of different lengths.
    """

    def __init__(self, steps):
        self.steps = np.asarray(steps)
        self.series = []
        self.rows = []

    def update(self, chunk, t0, xp):
        c = chunk.shape[1]
        which = np.flatnonzero((self.steps >= t0) & (self.steps < t0 + c))
        if which.size:
            self.series.append(which)
            self.rows.append(take_rows(chunk, which * c + (self.steps[which] - t0), xp))

    def result(self, xp):
        rows = self.rows[0] if len(self.rows) == 1 else xp.concat(self.rows, axis=0)
        order = np.concatenate(self.series)
        if np.array_equal(order, np.arange(order.size)):
            return rows
        return take_rows(xp.expand_dims(rows, axis=1), np.argsort(order), xp)
