"""reservoir: echo state networks and reservoir computing on NumPy or CuPy.

Fixed random recurrent reservoirs with exact spectral-radius control (the
runtime :class:`Reservoir`), a streaming ridge readout, and scikit-learn
estimators for regression, classification and closed-loop forecasting of
chaotic series, with time-series model selection; gradient-trained Elman,
LSTM and GRU networks with the same interface, for comparison.
"""

from . import datasets, diagnostics, lyapunov, metrics, model_selection
from ._base import ForecastDivergenceWarning
from .auto import AutoESNForecaster
from .classifier import ESNClassifier
from .deep import DeepESNClassifier, DeepESNRegressor
from .ensemble import ReservoirEnsembleClassifier
from .esn import ESNRegressor
from .nvar import NVARRegressor
from .parallel import ParallelESNRegressor
from .persistence import load, save
from .readout import FORCEReadout, LMSReadout, RidgeReadout, RLSReadout
from .rnn import (
    ElmanClassifier,
    ElmanRegressor,
    GRUClassifier,
    GRURegressor,
    IndRNNRegressor,
    LSTMClassifier,
    LSTMRegressor,
)
from .runtime import Reservoir
from .transformer import ReservoirTransformer

__all__ = [
    "AutoESNForecaster",
    "DeepESNClassifier",
    "DeepESNRegressor",
    "ESNClassifier",
    "ESNRegressor",
    "ForecastDivergenceWarning",
    "ElmanRegressor",
    "ElmanClassifier",
    "FORCEReadout",
    "GRURegressor",
    "GRUClassifier",
    "IndRNNRegressor",
    "LMSReadout",
    "LSTMRegressor",
    "LSTMClassifier",
    "NVARRegressor",
    "ParallelESNRegressor",
    "RLSReadout",
    "Reservoir",
    "ReservoirEnsembleClassifier",
    "ReservoirTransformer",
    "RidgeReadout",
    "datasets",
    "diagnostics",
    "load",
    "lyapunov",
    "metrics",
    "model_selection",
    "save",
]
__version__ = "0.1.0.dev0"
