"""Largest Lyapunov exponents of the chaotic systems of this package, with their sources.

Valid prediction times are quoted in Lyapunov times, 1/λ₁, so λ₁ is part of
the data of a benchmark. The values hold for the default parameters of each
generator; ``estimate`` records what :mod:`reservoir.lyapunov` measures
for the same system, and the tests check the flows and maps against
``value``.
"""

from __future__ import annotations

import math
from types import MappingProxyType
from typing import NamedTuple

__all__ = ["LYAPUNOV_EXPONENTS", "LyapunovExponent", "lyapunov_time"]


class LyapunovExponent(NamedTuple):
    """A published (or, where marked, measured) largest Lyapunov exponent.

    Attributes
    ----------
    value : float
        λ₁, per time unit of the system (per iteration for maps).
    parameters : mapping
        The parameters it holds for (the generator's defaults).
    time_unit : str
        "time unit" for flows, "iteration" for maps.
    source : str
        Where the value comes from.
    estimate : str
        What this package's estimators give, and how.
    """

    value: float
    parameters: MappingProxyType
    time_unit: str
    source: str
    estimate: str

    @property
    def lyapunov_time(self):
        """1/λ₁: the time over which errors grow by a factor e."""
        return 1.0 / self.value


def _entry(value, parameters, time_unit, source, estimate):
    return LyapunovExponent(value, MappingProxyType(dict(parameters)), time_unit, source, estimate)


_SPROTT = ("J. C. Sprott (2003). Chaos and Time-Series Analysis. Oxford University Press, "
           "table of Lyapunov exponents of common chaotic systems")

LYAPUNOV_EXPONENTS = MappingProxyType({
    "lorenz63": _entry(
        0.9056, {"sigma": 10.0, "rho": 28.0, "beta": 8.0 / 3.0}, "time unit",
        _SPROTT + "; also D. Viswanath (1998), PhD thesis, Cornell University",
        "0.899-0.913 from flow_lyapunov_exponent (tangent and two-trajectory), "
        "8 trajectories x 200 time units, four seeds",
    ),
    "rossler": _entry(
        0.0714, {"a": 0.2, "b": 0.2, "c": 5.7}, "time unit", _SPROTT,
        "0.0723 from flow_lyapunov_exponent (two-trajectory), 16 trajectories x 5000 time units",
    ),
    "double_scroll": _entry(
        0.091, {"r1": 1.2, "r2": 3.44, "r4": 0.193, "ir": 2.25e-5, "beta": 11.6}, "time unit",
        "measured with this package (no published value checked); the system is that of "
        "D. J. Gauthier et al. (2021), Nature Communications 12, 5564",
        "0.0909 from flow_lyapunov_exponent (two-trajectory), 16 trajectories x 2000 time units",
    ),
    "lorenz96": _entry(
        1.68, {"dimension": 40, "forcing": 8.0}, "time unit",
        "P. R. Vlachas et al. (2020). Backpropagation algorithms and reservoir computing in "
        "recurrent neural networks for the forecasting of complex spatiotemporal dynamics. "
        "Neural Networks 126, 191-217 (about 1.68; other works give up to 1.70)",
        "1.689 from flow_lyapunov_exponent (two-trajectory), 16 trajectories x 500 time units",
    ),
    "kuramoto_sivashinsky": _entry(
        0.048, {"domain_length": 22.0, "n_points": 64}, "time unit",
        "P. Cvitanović, R. L. Davidchack and E. Siminos (2010). On the state space geometry of "
        "the Kuramoto-Sivashinsky flow in a periodic domain. SIAM Journal on Applied Dynamical "
        "Systems 9(1), 1-33 (values of 0.043-0.05 appear in the literature for L = 22)",
        "0.049 +- 0.003 from map_lyapunov_exponent (two-trajectory) on the ETDRK4 solution, "
        "4 runs x 5000 time units",
    ),
    "mackey_glass": _entry(
        0.0050, {"tau": 17.0, "a": 0.2, "b": 0.1, "n": 10}, "time unit",
        "measured with this package (no published value checked): two-trajectory method on the "
        "full delay state of the RK4 discretisation (h = 0.1), renormalised every 10 time units; "
        "for tau = 30 the same run gives 0.0072",
        "0.0050 over 100 000 time units (0.0047 over the first 20 000: it converges slowly)",
    ),
    "henon_map": _entry(
        0.41922, {"a": 1.4, "b": 0.3}, "iteration", _SPROTT,
        "0.418-0.421 from map_lyapunov_exponent (tangent map), 200 000 iterations, three seeds",
    ),
    "logistic_map": _entry(
        math.log(2.0), {"r": 4.0}, "iteration",
        "exact: at r = 4 the map is conjugate to the tent map of slope 2 (ln 2 = 0.6931)",
        "0.6932 from map_lyapunov_exponent (tangent map), 20 000 iterations",
    ),
})


def lyapunov_time(system):
    """1/λ₁ of ``system`` (a key of :data:`LYAPUNOV_EXPONENTS`), at its default parameters.

    Examples
    --------
    >>> from reservoir.datasets import lyapunov_time
    >>> round(lyapunov_time("lorenz63"), 3)
    1.104
    """
    if system not in LYAPUNOV_EXPONENTS:
        raise ValueError(f"system must be one of {tuple(LYAPUNOV_EXPONENTS)}, got {system!r}")
    return LYAPUNOV_EXPONENTS[system].lyapunov_time
