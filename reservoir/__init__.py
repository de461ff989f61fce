"""reservoir: echo state networks and reservoir computing on NumPy or CuPy.

Fixed random recurrent reservoirs with exact spectral-radius control, a
streaming ridge readout, and scikit-learn estimators for regression,
classification and closed-loop forecasting of chaotic series; gradient-trained
Elman, LSTM and GRU networks with the same interface, for comparison.
"""

from . import datasets, diagnostics, lyapunov, metrics
from .esn import ESNClassifier, ESNRegressor, ReservoirTransformer
from .readout import RidgeReadout
from .rnn import ElmanRegressor, GRURegressor, LSTMRegressor

__all__ = [
    "ESNClassifier",
    "ESNRegressor",
    "ElmanRegressor",
    "GRURegressor",
    "LSTMRegressor",
    "ReservoirTransformer",
    "RidgeReadout",
    "datasets",
    "diagnostics",
    "lyapunov",
    "metrics",
]
__version__ = "0.1.0.dev0"
