"""One typed settings object for the whole platform, read from the environment.

Every variable starts with ``ARF_IDS_``; nested groups use ``__``::

    ARF_IDS_HOME=/var/lib/arf_ids                 # state directory (default .arf_ids)
    ARF_IDS_LOG_STORE_URL=postgresql+psycopg://…  # prediction/label log (default SQLite in HOME)
    ARF_IDS_MLFLOW_TRACKING_URI=http://mlflow:5000
    ARF_IDS_DRIFT__DELTA=0.001                    # ADWIN delta
    ARF_IDS_SENSOR__COOLDOWN_MINUTES=60
    ARF_IDS_SERVICE__PORT=3001                    # the BentoML service (bento/)
    ARF_IDS_SERVICE__API_KEY=…                    # guards /label and /admin (and /predict if chosen)

>>> settings = Settings(home="/tmp/arf")
>>> settings.log_store_url
'sqlite:////tmp/arf/logs.db'
>>> settings.drift.delta
0.002
>>> settings.service.port, settings.service_cache_dir
(3001, PosixPath('/tmp/arf/serving'))
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from arf_ids.core.drift import DriftConfig
from arf_ids.core.evaluation import GateConfig
from arf_ids.core.lineage import LineageConfig
from arf_ids.core.merge import MergeConfig
from arf_ids.core.model import ArfConfig
from arf_ids.core.registry import RegistryConfig
from arf_ids.core.retrain import RetrainConfig
from arf_ids.serving.logwriter import LogWriterConfig


class BaseDataSettings(BaseModel):
    """Where the base data set (the first model's training data) comes from."""

    model_config = ConfigDict(frozen=True)

    source: Literal["generator", "file"] = "generator"
    path: str | None = None
    format: Literal["cicflowmeter", "nsl-kdd", "unsw-nb15"] = "cicflowmeter"
    n_flows: int = Field(default=24_000, gt=0, description="flows drawn from the generator")
    holdout_fraction: float = Field(default=0.2, gt=0, lt=1, description="base rows kept out to test forgetting")


class SensorSettings(BaseModel):
    """How ``drift_sensor`` looks at the log and how often it may retrain."""

    model_config = ConfigDict(frozen=True)

    interval_seconds: int = Field(default=30, gt=0)
    lookback_hours: float = Field(default=24.0, gt=0)
    cooldown_minutes: float = Field(default=30.0, ge=0)


class ServiceSettings(BaseModel):
    """The BentoML service in ``bento/``: where it listens, how it polls, what it accepts."""

    model_config = ConfigDict(frozen=True)

    host: str = "127.0.0.1"
    port: int = Field(default=3001, ge=1, le=65535)
    poll_seconds: float = Field(default=10.0, gt=0, description="how often the registry is asked for production")
    api_key: SecretStr | None = Field(default=None, description="guards /label and /admin/*; empty or unset: open")
    protect_predict: bool = Field(default=False, description="require the API key on /predict too")
    max_batch: int = Field(default=10_000, ge=1, description="most flows in one /predict/batch or /label/batch")
    batch_workers: int = Field(
        default=1, ge=1, description="threads one /predict/batch is scored in (each gets 4,096+ flows); 1: one thread"
    )
    max_body_bytes: int = Field(default=1 << 20, ge=1024, description="request body limit (413 above it)")
    max_batch_body_bytes: int = Field(default=16 << 20, ge=1024, description="body limit of the two batch routes")
    websocket_queue_size: int = Field(default=1_000, ge=1, description="messages held per /ws client before dropping")
    model_cache_dir: str = Field(default="", description="local copy of the served model; empty: home/serving")
    log: LogWriterConfig = LogWriterConfig()

    @field_validator("api_key")
    @classmethod
    def _empty_key_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value() else None


class Settings(BaseSettings):
    """The platform's configuration. Embedded defaults need no variable at all."""

    model_config = SettingsConfigDict(env_prefix="ARF_IDS_", env_nested_delimiter="__", frozen=True)

    home: Path = Path(".arf_ids")
    log_store_url: str = Field(default="", description="SQLAlchemy URL; empty: SQLite in home")
    mlflow_tracking_uri: str = Field(default="", description="empty: SQLite in home")
    mlflow_registry_uri: str = Field(default="", description="empty: the tracking URI")
    mlflow_artifact_location: str = Field(default="", description="empty: home/mlartifacts with the embedded store")
    model_name: str = "arf-ids"
    dataset_root: str = Field(default="", description="local directory or s3://bucket/prefix; empty: home/datasets")
    s3_endpoint_url: str = Field(default="", description="S3-compatible endpoint; empty: AWS")
    seed: int = 42
    max_drift_samples: int = Field(default=3_000, gt=0, description="drift samples a retrain learns from")

    base: BaseDataSettings = BaseDataSettings()
    arf: ArfConfig = ArfConfig()
    retrain: RetrainConfig = RetrainConfig()
    drift: DriftConfig = DriftConfig()
    merge: MergeConfig = MergeConfig()
    gate: GateConfig = GateConfig()
    sensor: SensorSettings = SensorSettings()
    service: ServiceSettings = ServiceSettings()

    @model_validator(mode="after")
    def _embedded_defaults(self) -> Settings:
        """Resolve the home directory and point every empty store at it."""
        home = self.home.expanduser().resolve()
        embedded_mlflow = not self.mlflow_tracking_uri
        defaults = {
            "home": home,
            "log_store_url": self.log_store_url or f"sqlite:///{home / 'logs.db'}",
            "mlflow_tracking_uri": self.mlflow_tracking_uri or f"sqlite:///{home / 'mlflow.db'}",
            "mlflow_artifact_location": self.mlflow_artifact_location
            or ((home / "mlartifacts").as_uri() if embedded_mlflow else ""),
            "dataset_root": self.dataset_root or str(home / "datasets"),
        }
        for name, value in defaults.items():
            object.__setattr__(self, name, value)
        return self

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def reports_dir(self) -> Path:
        return self.home / "reports"

    @property
    def service_cache_dir(self) -> Path:
        """Where the service keeps its verified local copy of the production model."""
        if not self.service.model_cache_dir:
            return self.home / "serving"
        return Path(self.service.model_cache_dir).expanduser().resolve()

    def lineage_config(self) -> LineageConfig:
        """The retrain lineage's knobs, as the core reads them."""
        return LineageConfig(
            merge=self.merge,
            retrain=self.retrain,
            gate=self.gate,
            max_drift_samples=self.max_drift_samples,
            seed=self.seed,
        )

    def registry_config(self) -> RegistryConfig:
        """Where the MLflow registry lives."""
        return RegistryConfig(
            tracking_uri=self.mlflow_tracking_uri,
            registry_uri=self.mlflow_registry_uri or None,
            artifact_location=self.mlflow_artifact_location or None,
            model_name=self.model_name,
        )
