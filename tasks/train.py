"""Purged walk-forward training with LightGBM, tracked in MLflow. (stub)"""

from governance.configio import StrictModel


class ModelConfig(StrictModel):
    name: str = "alphagate-demo"
