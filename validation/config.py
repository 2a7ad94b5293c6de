"""Validation configuration. (stub)"""

from governance.configio import StrictModel


class ValidationConfig(StrictModel):
    shap_sample: int = 2000
