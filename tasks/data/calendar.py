"""The trading calendar's year: the one home of the number 252.

Daily data here are trading days. A year of them is :data:`TRADING_DAYS` (252: the usual
convention for US equities, about 365.25 x 5/7 less nine exchange holidays). It annualises
daily Sharpe ratios and volatilities (``tasks.model.stats``), sizes one-year windows
(features, covariance look-back, the shortest training fold) and sets the minimum history
the data-quality gate warns about.
"""

from __future__ import annotations

TRADING_DAYS = 252
