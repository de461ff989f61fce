"""Chaotic-series forecasting benchmarks for ``reservoir``.

Run ``python -m benchmarks`` (quick mode) or ``python -m benchmarks full``;
``python -m benchmarks --help`` lists the options, and ``docs/benchmarks.rst``
describes each protocol, its references and the measured results. The suite
lives outside the package and imports only its public API: ``reservoir``,
``reservoir.rnn``, ``reservoir.datasets``, ``reservoir.metrics`` and
``reservoir.diagnostics``.
"""
