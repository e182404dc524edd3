"""Dagster resources: the three external systems the lineage talks to.

Each resource is configured from ``arf_ids.settings.Settings``; a value given by an
environment variable is passed as ``dg.EnvVar`` so the UI shows its source, not its
content (a PostgreSQL URL may hold a password).
"""

import os

import dagster as dg
from dagster_aws.s3 import S3Resource

from arf_ids.core.datasets import DatasetStore
from arf_ids.core.logstore import LogStore
from arf_ids.core.registry import ModelRegistry, RegistryConfig
from arf_ids.settings import Settings


class LogStoreResource(dg.ConfigurableResource):
    """The prediction and label log (SQLite in WAL mode by default, any SQLAlchemy URL)."""

    url: str

    def store(self) -> LogStore:
        return LogStore(self.url)


class ModelRegistryResource(dg.ConfigurableResource):
    """The MLflow tracking server and model registry (aliases ``production``/``candidate``)."""

    tracking_uri: str
    registry_uri: str = ""
    artifact_location: str = ""
    model_name: str = "arf-ids"

    def registry(self) -> ModelRegistry:
        return ModelRegistry(
            RegistryConfig(
                tracking_uri=self.tracking_uri,
                registry_uri=self.registry_uri or None,
                artifact_location=self.artifact_location or None,
                model_name=self.model_name,
            )
        )


class DatasetStoreResource(dg.ConfigurableResource):
    """Where assets keep their data sets: a local directory or ``s3://bucket/prefix``."""

    root: str
    s3: dg.ResourceDependency[S3Resource | None] = None

    def store(self) -> DatasetStore:
        if self.root.startswith("s3://"):
            if self.s3 is None:
                raise dg.DagsterInvariantViolationError(f"dataset root {self.root} needs an s3 resource")
            return DatasetStore.s3(self.s3.get_client(), self.root)
        return DatasetStore.local(self.root)


def _from_env(variable: str, value: str) -> str | dg.EnvVar:
    """``dg.EnvVar`` when the variable is set (the UI shows the name), else the default."""
    return dg.EnvVar(variable) if os.environ.get(variable) else value


def build_resources(settings: Settings) -> dict[str, dg.ConfigurableResource]:
    """The resources of the code location, configured from the platform settings."""
    s3 = (
        S3Resource(endpoint_url=settings.s3_endpoint_url or None) if settings.dataset_root.startswith("s3://") else None
    )
    return {
        "log_store": LogStoreResource(url=_from_env("ARF_IDS_LOG_STORE_URL", settings.log_store_url)),
        "model_registry": ModelRegistryResource(
            tracking_uri=_from_env("ARF_IDS_MLFLOW_TRACKING_URI", settings.mlflow_tracking_uri),
            registry_uri=settings.mlflow_registry_uri,
            artifact_location=settings.mlflow_artifact_location,
            model_name=settings.model_name,
        ),
        "datasets": DatasetStoreResource(root=settings.dataset_root, s3=s3),
    }
