"""Gradient-trained recurrent networks (Elman, LSTM, GRU), for comparison with reservoirs.

The parts are kept apart as in scikit-learn's ``neural_network``: the cells
with their forward and backward passes (``_cells``), the optimizers and
learning-rate schedules (``_optimizers``), the training loop with full or
truncated backpropagation through time (``_training``), and the estimators
(``_estimators``), which share the interface of :class:`reservoir.ESNRegressor`.
"""

from ._estimators import ElmanRegressor, GRURegressor, LSTMRegressor

__all__ = ["ElmanRegressor", "GRURegressor", "LSTMRegressor"]
