"""Chaotic and benchmark time series, as pure functions.

Every generator takes the number of samples first and keywords after it,
draws whatever is random from an explicit ``random_state``, and returns
float64 arrays of shape (n_timesteps, n_features) sampled on a documented
step. Continuous systems are integrated by SciPy's DOP853 at rtol = atol =
1e-12 (Mackey-Glass by RK4 at step <= 0.1, Kuramoto-Sivashinsky by
ETDRK4), so that benchmark data does not depend on a coarse integrator.

Flows
    :func:`lorenz63`, :func:`rossler`, :func:`double_scroll`,
    :func:`lorenz96`, and their vector fields :func:`vector_field`.
Delay and partial differential equations
    :func:`mackey_glass`, :func:`kuramoto_sivashinsky`.
Maps and driven systems
    :func:`henon_map`, :func:`logistic_map`, :func:`narma`,
    :func:`multiple_superimposed_oscillators`.
Metadata
    :data:`LYAPUNOV_EXPONENTS` (value and source of λ₁ per system) and
    :func:`lyapunov_time`.
Forecasting tasks
    :func:`to_forecasting`, :func:`split_series`, :func:`forecast_windows`.
Real sequence-classification data
    :func:`japanese_vowels` (the UEA/UCR archive's JapaneseVowels), the
    archive's ``.ts`` reader :func:`read_ts`, and :func:`get_data_home`.
"""

from ._archive import JAPANESE_VOWELS_URL, get_data_home, japanese_vowels, read_ts
from ._delay import mackey_glass
from ._flows import VectorField, double_scroll, lorenz63, lorenz96, rossler, vector_field
from ._ks import kuramoto_sivashinsky
from ._maps import henon_map, logistic_map
from ._narma import narma
from ._oscillators import MSO_FREQUENCIES, multiple_superimposed_oscillators
from ._reference import LYAPUNOV_EXPONENTS, LyapunovExponent, lyapunov_time
from ._utils import forecast_windows, split_series, to_forecasting

__all__ = [
    "JAPANESE_VOWELS_URL",
    "LYAPUNOV_EXPONENTS",
    "MSO_FREQUENCIES",
    "LyapunovExponent",
    "VectorField",
    "double_scroll",
    "forecast_windows",
    "get_data_home",
    "henon_map",
    "japanese_vowels",
    "kuramoto_sivashinsky",
    "logistic_map",
    "lorenz63",
    "lorenz96",
    "lyapunov_time",
    "mackey_glass",
    "multiple_superimposed_oscillators",
    "narma",
    "read_ts",
    "rossler",
    "split_series",
    "to_forecasting",
    "vector_field",
]
