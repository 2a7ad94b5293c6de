"""Entry points: Prefect flows and the ``alphagate`` CLI. Composition only."""
