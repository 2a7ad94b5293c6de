"""Risk analytics and stress testing of published portfolios.

Pure functions and frozen dataclasses: ``decomposition`` (ex-ante risk, Euler
contributions, exposures, tracking error), ``var`` (VaR and ES), ``scenarios`` (historical
replays, hypothetical shocks), ``sampling`` (sampled conditional scenarios), ``stress``
(losses, contributors, cost to exit; vectorised over accounts), ``attribution``
(Brinson–Fachler and factor attribution of realised returns). ``record`` stores, plots and
records them. The risk model is the optimiser's (``tasks/portfolio/risk.py``).
"""
