"""Gradient-trained recurrent networks (Elman, LSTM, GRU, IndRNN), for comparison with reservoirs.

The parts are kept apart as in scikit-learn's ``neural_network``: the cells
as objects with one step forward and one step back (``_cells``), the
network's one time loop and backpropagation through time, for stacked and
bidirectional layers, padding, zoneout and dropout (``_network``), real-time
recurrent learning (``_rtrl``), the heads and losses (``_objectives``), the
optimizers and learning-rate schedules (``_optimizers``), the training loop
(``_training``), and the regressors (``_estimators``) and classifiers
(``_classifiers``), which share the interface of :class:`reservoir.ESNRegressor`
and :class:`reservoir.ESNClassifier`.
"""

from ._classifiers import ElmanClassifier, GRUClassifier, LSTMClassifier
from ._estimators import ElmanRegressor, GRURegressor, IndRNNRegressor, LSTMRegressor

__all__ = [
    "ElmanClassifier",
    "ElmanRegressor",
    "GRUClassifier",
    "GRURegressor",
    "IndRNNRegressor",
    "LSTMClassifier",
    "LSTMRegressor",
]
