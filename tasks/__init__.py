"""Domain stages: market data, data quality, features, training, risk, optimisation, backtest.

Pure functions and frozen dataclasses at the top of each module; thin Prefect ``@task``
wrappers (load, call, log, record) below them. May import ``governance`` only.
"""
