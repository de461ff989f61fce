"""Readouts: the trained linear map from a reservoir's features to its outputs.

* :class:`RidgeReadout` (the default of every estimator), trained from
  streamed sufficient statistics (:class:`GramAccumulator`), in one solve;
* online readouts, updated one time step at a time: :class:`RLSReadout`
  (recursive least squares with a forgetting factor), :class:`LMSReadout`
  (normalised least mean squares) and :class:`FORCEReadout` (RLS trained
  inside the closed loop, Sussillo & Abbott 2009).

A readout is chosen by composition, ``ESNRegressor(readout=RLSReadout(...))``.
:func:`readout_features` builds the feature vector [u(t); x(t); x(t)^2] that
every readout sees, and :class:`ReadoutFunction` is a fitted linear readout
as a function for :meth:`reservoir.Reservoir.generate`.
"""

from ._online import FORCEReadout, LMSReadout, OnlineReadout, RLSReadout
from ._ridge import (
    READOUT_FEATURES,
    GramAccumulator,
    ReadoutFunction,
    ReadoutPath,
    RidgeReadout,
    check_readout_features,
    n_readout_features,
    readout_features,
)

__all__ = [
    "READOUT_FEATURES",
    "FORCEReadout",
    "GramAccumulator",
    "LMSReadout",
    "OnlineReadout",
    "RLSReadout",
    "ReadoutFunction",
    "ReadoutPath",
    "RidgeReadout",
    "check_readout_features",
    "n_readout_features",
    "readout_features",
]
