"""reservoir: echo state networks and reservoir computing on NumPy or CuPy.

Fixed random recurrent reservoirs with exact spectral-radius control, a
streaming ridge readout, and scikit-learn estimators for regression,
classification and closed-loop forecasting of chaotic series.
"""

from .esn import ESNClassifier, ESNRegressor, ReservoirTransformer
from .readout import RidgeReadout

__all__ = ["ESNClassifier", "ESNRegressor", "ReservoirTransformer", "RidgeReadout"]
__version__ = "0.1.0.dev0"
