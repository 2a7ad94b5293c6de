"""Portfolio construction configuration. (stub)"""

from governance.configio import StrictModel


class PortfolioConfig(StrictModel):
    max_weight: float = 0.1
