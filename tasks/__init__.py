"""Domain work in three rooms, each a package of pure functions and frozen dataclasses.

- ``tasks.data``: market data (files, the demo, synthetic markets) and the data-quality gate.
- ``tasks.model``: features, labels, the sealed split, purged CV, training, signal
  statistics, MLflow tracking and registration, the model card, scoring.
- ``tasks.portfolio``: risk models, alphas, costs, benchmarks, the optimiser, rebalancing
  and the backtest.

No Prefect here: ``flows/`` wraps these functions in tasks. Imports ``governance`` and the
rooms before it (data < model < portfolio); never ``validation`` or ``flows``
(tests/test_layers.py).
"""
