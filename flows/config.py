"""The run configuration: one YAML file -> one tree of typed sections, one per stage owner."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, model_validator

from governance.ground.canonical import sha256_json
from governance.ground.configio import StrictModel, read_yaml, validate_model
from governance.policy.config import GovernanceConfig, PolicyRef
from tasks.data.config import DataConfig
from tasks.data.quality.config import QualityConfig
from tasks.data.sources.config import SourceConfig
from tasks.model.config import FeaturesConfig, ModelConfig
from tasks.portfolio.config import PortfolioConfig
from tasks.risk.config import RiskConfig, StressConfig
from validation.config import ValidationConfig


class RuntimeConfig(StrictModel):
    """How the flows execute: in-process threads, or a Dask cluster (docs/deploy.md)."""

    task_runner: Literal["threads", "dask"] = "threads"
    dask_address: str | None = None  # an existing scheduler, e.g. tcp://10.0.0.5:8786
    # Local cluster when no address: one process per core, one thread each, so the
    # pure-Python parts of the stages do not contend for one GIL. 2 = this machine's cores.
    dask_workers: int = Field(default=2, ge=1)
    dask_threads_per_worker: int = Field(default=1, ge=1)


class AlphagateConfig(StrictModel):
    """Root of the run configuration. Relative paths resolve against ``base_dir``.

    A mapping holding only ``file`` is a reference to a run-config YAML file (relative to
    the working directory): it loads as :func:`load_config` loads that file, so a
    deployment in prefect.yaml names ``configs/demo.yaml`` instead of copying it. ``file``
    and ``base_dir`` record where a config came from; neither is part of
    :meth:`resolved` or :meth:`config_hash`.
    """

    file: str | None = None
    data: DataConfig = Field(default_factory=DataConfig)
    quality: QualityConfig = Field(default_factory=QualityConfig)
    # Feature sources with data contracts, joined point in time (tasks/data/sources/).
    sources: tuple[SourceConfig, ...] = ()
    features: FeaturesConfig = Field(default_factory=FeaturesConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    validation: ValidationConfig = Field(default_factory=ValidationConfig)
    policy: PolicyRef = Field(default_factory=PolicyRef)
    portfolio: PortfolioConfig = Field(default_factory=PortfolioConfig)
    risk: RiskConfig = Field(default_factory=RiskConfig)
    stress: StressConfig = Field(default_factory=StressConfig)
    governance: GovernanceConfig = Field(default_factory=GovernanceConfig)
    runtime: RuntimeConfig = Field(default_factory=RuntimeConfig)
    base_dir: str = "."

    @model_validator(mode="before")
    @classmethod
    def _load_file(cls, data: Any) -> Any:
        if not isinstance(data, dict) or set(data) != {"file"} or data["file"] is None:
            return data
        path = Path(data["file"])
        loaded = read_yaml(path)
        for key in ("base_dir", "file"):
            if key in loaded:
                from governance.ground.errors import InputError

                raise InputError(f"{path}: {key}: unknown key")
        return {**loaded, "file": str(path), "base_dir": str(path.resolve().parent)}

    def resolve(self, path: str) -> Path:
        """A config-relative path made absolute."""
        p = Path(path)
        return p if p.is_absolute() else (Path(self.base_dir) / p).resolve()

    def resolved(self) -> dict[str, Any]:
        """The settings as JSON, without where they came from (``file``, ``base_dir``)."""
        return self.model_dump(mode="json", exclude={"base_dir", "file"})

    def config_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`resolved`."""
        return sha256_json(self.resolved())


def load_config(path: str | Path) -> AlphagateConfig:
    """Load and validate a run config; errors name ``file: field.path: message`` (exit 2)."""
    return validate_model(AlphagateConfig, {"file": str(path)}, str(path))
