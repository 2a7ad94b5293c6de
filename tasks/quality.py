"""Data-quality gate (Great Expectations). (stub)"""

from governance.configio import StrictModel


class QualityConfig(StrictModel):
    pass
