"""Point-in-time features and labels. (stub)"""

from governance.configio import StrictModel


class FeaturesConfig(StrictModel):
    horizon: int = 21
