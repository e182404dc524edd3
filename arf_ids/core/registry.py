"""The MLflow 3 model registry: versioned, checksummed model bundles behind aliases.

Each :meth:`ModelRegistry.register` is one MLflow run (params, metrics, provenance
tags and the bundle artifact ``model/model.arfids``) plus one registered model version
whose tags carry the artifact's sha256. :meth:`ModelRegistry.load` downloads the
artifact and refuses it unless its sha256 matches the version's tag. ``production`` is
an alias, moved only by :meth:`ModelRegistry.promote` and :meth:`ModelRegistry.rollback`,
which keep the promotion history (a stack of versions) in the registered model's
``production_history`` tag.

>>> config = RegistryConfig(tracking_uri="sqlite:///state/mlflow.db", registry_uri="")
>>> config.model_name, config.registry_uri
('arf-ids', None)

With a trained ``bundle`` (the constructor creates and migrates a SQLite database on
first use, which takes seconds; for an ``http(s)`` URI it opens no connection)::

    registry = ModelRegistry(config.model_copy(update={"artifact_location": "file:///srv/mlartifacts"}))
    info = registry.register(bundle, metrics={"macro_f1": 0.97}, params={"n_models": 10},
                             data={"source": "generator", "rows": 24000})
    registry.promote(info.version, reason="first model")   # -> None (no previous production)
    loaded = registry.load("production")                     # LoadedModel(bundle, version, sha256, run_id)

The artifact directory is also an MLflow pyfunc model (``loader_module`` is this
module), so ``mlflow.pyfunc.load_model`` and tools built on it (``mlflow models serve``,
BentoML's MLflow import) can serve it; its ``predict`` takes a frame with the schema's
feature columns and returns ``label``, ``confidence`` and ``trees_used``.

Process state: the registry talks to MLflow only through its own ``MlflowClient`` with
explicit tracking and registry URIs, so two registries in one process stay apart and
``mlflow.set_tracking_uri`` is never called. MLflow reads its HTTP retry and timeout
settings from environment variables at each request; every registry call sets them from
:class:`RegistryConfig` for its duration and restores them afterwards (this is not
thread-safe when threads use registries with different HTTP settings). The defaults
make an unreachable server fail in seconds instead of MLflow's several minutes.

Promotion and rollback are read-modify-write on tags: run them from one writer (the
retraining job) at a time.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.entities import Metric, Param
from mlflow.entities.model_registry import ModelVersion
from mlflow.exceptions import MlflowException
from mlflow.models import Model
from mlflow.pyfunc import add_to_model
from pydantic import BaseModel, ConfigDict, Field, field_validator

from arf_ids.core.errors import ModelIntegrityError, RegistryError
from arf_ids.core.model import ModelBundle

PRODUCTION_ALIAS = "production"
#: Where the bundle lives inside the run's artifacts.
ARTIFACT_DIR = "model"
ARTIFACT_FILE = "model.arfids"
#: Registered-model tag holding the promotion stack (a JSON list of versions, oldest first).
HISTORY_TAG = "production_history"
#: Most versions kept in the history tag (MLflow tag values are limited to a few kB).
HISTORY_LIMIT = 500
_NOT_FOUND = "RESOURCE_DOES_NOT_EXIST"
_ALREADY_EXISTS = "RESOURCE_ALREADY_EXISTS"


class RegistryConfig(BaseModel):
    """Where the registry lives and how patiently it talks to a remote MLflow server.

    ``registry_uri`` defaults to ``tracking_uri``; ``artifact_location`` (a directory
    URI such as ``file:///srv/mlartifacts`` or ``s3://bucket/mlartifacts``) is used when
    the experiment is created, and defaults to the tracking server's choice. Empty
    strings mean "not set". The ``http_*`` settings apply to ``http(s)`` URIs only.
    """

    model_config = ConfigDict(frozen=True)

    tracking_uri: str = Field(min_length=1)
    registry_uri: str | None = None
    artifact_location: str | None = None
    model_name: str = Field("arf-ids", min_length=1, pattern=r"^[^'\"]+$")
    experiment_name: str = Field("arf-ids", min_length=1)
    http_max_retries: int = Field(2, ge=0, le=10)
    http_backoff_factor: int = Field(1, ge=0)
    http_timeout_seconds: int = Field(15, ge=1)

    @field_validator("registry_uri", "artifact_location")
    @classmethod
    def _empty_is_unset(cls, value: str | None) -> str | None:
        return value or None


@dataclass(frozen=True, slots=True)
class ModelVersionInfo:
    """One registered version: where it came from and what it is."""

    version: int
    run_id: str
    sha256: str
    aliases: tuple[str, ...]
    metrics: Mapping[str, float]
    tags: Mapping[str, str]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class LoadedModel:
    """A verified bundle with the registry coordinates it was loaded from."""

    bundle: ModelBundle
    version: int
    sha256: str
    run_id: str


@dataclass(frozen=True)
class PyfuncModel:
    """The MLflow pyfunc face of a bundle: a frame of features in, a frame of predictions out."""

    bundle: ModelBundle

    def predict(self, model_input: pd.DataFrame | np.ndarray, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
        matrix = self.bundle.schema.frame_matrix(model_input) if isinstance(model_input, pd.DataFrame) else model_input
        batch = self.bundle.predict_matrix(np.asarray(matrix, dtype=np.float64))
        return pd.DataFrame({"label": batch.labels, "confidence": batch.confidences, "trees_used": batch.trees_used})


def _load_pyfunc(data_path: str) -> PyfuncModel:
    """MLflow's pyfunc entry point: the bundle file, checked against the sha256 in ``MLmodel``."""
    expected = Model.load(str(Path(data_path).parent)).metadata or {}
    return PyfuncModel(ModelBundle.load(data_path, expected_sha256=expected.get("sha256")))


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _is_http(uri: str | None) -> bool:
    return uri is not None and uri.startswith(("http://", "https://"))


def _make_sqlite_parent(uri: str) -> None:
    prefix = "sqlite:///"
    if uri.startswith(prefix) and uri != prefix + ":memory:":
        Path(uri[len(prefix) :].split("?", 1)[0]).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _error_code(error: MlflowException) -> str:
    return str(getattr(error, "error_code", ""))


def _json_tag(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


class ModelRegistry:
    """Register, alias, promote, roll back and load ``ModelBundle`` versions in MLflow."""

    def __init__(self, config: RegistryConfig) -> None:
        self.config = config
        for uri in (config.tracking_uri, config.registry_uri):
            if uri:
                _make_sqlite_parent(uri)
        try:
            self._client = MlflowClient(
                tracking_uri=config.tracking_uri, registry_uri=config.registry_uri or config.tracking_uri
            )
        except MlflowException as error:
            raise RegistryError(f"cannot open the registry at {config.tracking_uri}: {error.message}") from error

    def __repr__(self) -> str:
        return f"ModelRegistry(model={self.config.model_name!r}, tracking_uri={self.config.tracking_uri!r})"

    # ------------------------------------------------------------------ plumbing

    @contextmanager
    def _calling(self, action: str) -> Iterator[MlflowClient]:
        """Run MLflow calls with this registry's HTTP limits; MLflow errors become ``RegistryError``."""
        limits: dict[str, str] = {"MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false"}
        if _is_http(self.config.tracking_uri) or _is_http(self.config.registry_uri):
            limits |= {
                "MLFLOW_HTTP_REQUEST_MAX_RETRIES": str(self.config.http_max_retries),
                "MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR": str(self.config.http_backoff_factor),
                "MLFLOW_HTTP_REQUEST_TIMEOUT": str(self.config.http_timeout_seconds),
            }
        saved = {name: os.environ.get(name) for name in limits}
        os.environ.update(limits)
        try:
            yield self._client
        except MlflowException as error:
            raise RegistryError(
                f"{action} failed (model {self.config.model_name!r} at {self.config.tracking_uri}): {error.message}"
            ) from error
        except OSError as error:
            raise RegistryError(f"{action} failed (model {self.config.model_name!r}): {error}") from error
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value

    def _aliases_by_version(self) -> dict[int, tuple[str, ...]]:
        by_version: dict[int, list[str]] = {}
        for alias, version in self._alias_map().items():
            by_version.setdefault(version, []).append(alias)
        return {version: tuple(sorted(aliases)) for version, aliases in by_version.items()}

    def _alias_map(self) -> dict[str, int]:
        name = self.config.model_name
        try:
            with self._calling(f"reading the aliases of model {name!r}") as client:
                return {alias: int(version) for alias, version in client.get_registered_model(name).aliases.items()}
        except RegistryError as error:
            if isinstance(error.__cause__, MlflowException) and _error_code(error.__cause__) == _NOT_FOUND:
                return {}
            raise

    def _model_version(self, version: int) -> ModelVersion:
        if isinstance(version, bool) or not isinstance(version, int | np.integer) or version < 1:
            raise RegistryError(f"a model version is a positive integer, not {version!r}")
        name = self.config.model_name
        try:
            with self._calling(f"reading version {version} of model {name!r}") as client:
                return client.get_model_version(name, str(version))
        except RegistryError as error:
            if isinstance(error.__cause__, MlflowException) and _error_code(error.__cause__) == _NOT_FOUND:
                raise RegistryError(f"model {name!r} has no version {version}") from None
            raise

    def _info(self, version: ModelVersion, aliases: tuple[str, ...]) -> ModelVersionInfo:
        tags = dict(version.tags or {})
        return ModelVersionInfo(
            version=int(version.version),
            run_id=version.run_id or "",
            sha256=tags.get("sha256", ""),
            aliases=aliases,
            metrics={name: float(value) for name, value in json.loads(tags.get("metrics", "{}")).items()},
            tags=tags,
            created_at=datetime.fromtimestamp(version.creation_timestamp / 1000, tz=UTC),
        )

    def _version_number(self, ref: int | str) -> int:
        if isinstance(ref, str):
            version = self.version_for(ref)
            if version is None:
                raise RegistryError(f"model {self.config.model_name!r} has no alias {ref!r}")
            return version
        return ref

    def info(self, ref: int | str) -> ModelVersionInfo:
        """What the registry knows about a version (number) or the version behind an alias (name)."""
        version = self._version_number(ref)
        return self._info(self._model_version(version), self._aliases_by_version().get(version, ()))

    def _experiment_id(self, client: MlflowClient) -> str:
        name = self.config.experiment_name
        experiment = client.get_experiment_by_name(name)
        if experiment is None:
            try:
                return client.create_experiment(name, artifact_location=self.config.artifact_location)
            except MlflowException as error:
                if _error_code(error) != _ALREADY_EXISTS:
                    raise
                experiment = client.get_experiment_by_name(name)
        if experiment is None or experiment.lifecycle_stage != "active":
            raise RegistryError(f"MLflow experiment {name!r} is deleted; restore it or choose another experiment_name")
        return experiment.experiment_id

    def _ensure_registered_model(self, client: MlflowClient) -> None:
        try:
            client.create_registered_model(self.config.model_name)
        except MlflowException as error:
            if _error_code(error) != _ALREADY_EXISTS:
                raise

    # ------------------------------------------------------------------ public API

    def register(
        self,
        bundle: ModelBundle,
        *,
        metrics: Mapping[str, float],
        params: Mapping[str, str | int | float],
        data: Mapping[str, str | int | float],
        tags: Mapping[str, str] | None = None,
        run_name: str | None = None,
        alias: str | None = None,
    ) -> ModelVersionInfo:
        """Log ``bundle`` as one MLflow run and register it as a new version of ``model_name``.

        The run holds ``params``, ``metrics``, the artifact ``model/model.arfids`` (with an
        ``MLmodel`` pyfunc descriptor) and tags: river version, seed, artifact sha256,
        feature count, classes and ``data.<key>`` provenance. The version's tags repeat
        sha256, river version, seed, classes and carry ``metrics`` and ``data`` as JSON;
        ``tags`` go on both (the registry's own tags win a name clash). ``alias`` is set
        last; ``alias="production"`` goes through :meth:`promote`.
        """
        artifact = bundle.to_bytes()
        sha256 = hashlib.sha256(artifact).hexdigest()
        described = {
            "sha256": sha256,
            "river_version": bundle.river_version,
            "seed": str(bundle.seed),
            "n_features": str(len(bundle.schema)),
            "classes": _json_tag(list(bundle.classes)),
        }
        run_tags = {**(tags or {}), **described, **{f"data.{key}": str(value) for key, value in data.items()}}
        version_tags = {
            **(tags or {}),
            **described,
            "metrics": _json_tag({name: float(value) for name, value in metrics.items()}),
            "data": _json_tag(dict(data)),
            "artifact": f"{ARTIFACT_DIR}/{ARTIFACT_FILE}",
        }
        now_ms = int(time.time() * 1000)
        with self._calling(f"registering a new version of model {self.config.model_name!r}") as client:
            run = client.create_run(self._experiment_id(client), run_name=run_name, tags=run_tags)
            run_id = run.info.run_id
            try:
                client.log_batch(
                    run_id,
                    metrics=[Metric(name, float(value), now_ms, 0) for name, value in metrics.items()],
                    params=[Param(name, str(value)) for name, value in params.items()],
                )
                with tempfile.TemporaryDirectory(prefix="arf-ids-artifact-") as staging:
                    model_dir = Path(staging) / ARTIFACT_DIR
                    model_dir.mkdir()
                    (model_dir / ARTIFACT_FILE).write_bytes(artifact)
                    descriptor = Model(run_id=run_id, artifact_path=ARTIFACT_DIR, metadata={"sha256": sha256})
                    add_to_model(descriptor, loader_module=__name__, data=ARTIFACT_FILE)
                    descriptor.save(str(model_dir / "MLmodel"))
                    client.log_artifacts(run_id, str(model_dir), ARTIFACT_DIR)
            except BaseException:
                with suppress(MlflowException):
                    client.set_terminated(run_id, status="FAILED")
                raise
            client.set_terminated(run_id)
            self._ensure_registered_model(client)
            version = client.create_model_version(
                self.config.model_name,
                source=f"{run.info.artifact_uri}/{ARTIFACT_DIR}",
                run_id=run_id,
                tags=version_tags,
            )
        number = int(version.version)
        if alias == PRODUCTION_ALIAS:
            self.promote(number, reason="registered as production")
        elif alias is not None:
            self.set_alias(alias, number)
        return self.info(number)

    def set_alias(self, alias: str, version: int) -> None:
        """Point ``alias`` at ``version`` (which must exist). Move ``production`` with :meth:`promote`."""
        self._model_version(version)
        with self._calling(f"setting alias {alias!r} to version {version}") as client:
            client.set_registered_model_alias(self.config.model_name, alias, str(version))

    def version_for(self, alias: str) -> int | None:
        """The version behind ``alias``, or None when the alias (or the model) does not exist."""
        return self._alias_map().get(alias)

    def _verified_artifact(self, info: ModelVersionInfo, directory: Path) -> Path:
        if not info.sha256:
            raise ModelIntegrityError(
                f"model {self.config.model_name!r} version {info.version} has no sha256 tag; refusing to load it"
            )
        with self._calling(f"downloading version {info.version} of model {self.config.model_name!r}") as client:
            path = Path(client.download_artifacts(info.run_id, f"{ARTIFACT_DIR}/{ARTIFACT_FILE}", str(directory)))
        actual = sha256_of(path)
        if actual != info.sha256:
            raise ModelIntegrityError(
                f"model {self.config.model_name!r} version {info.version}: the artifact's sha256 {actual} "
                f"does not match the registered {info.sha256} (the stored file was altered or damaged)"
            )
        return path

    def load(self, ref: int | str) -> LoadedModel:
        """Download and decode a version (number) or the version behind an alias (name).

        Raises :class:`RegistryError` for an unknown version or alias and
        :class:`ModelIntegrityError` when the artifact does not match its sha256 tag.
        """
        info = self.info(ref)
        with tempfile.TemporaryDirectory(prefix="arf-ids-download-") as staging:
            data = self._verified_artifact(info, Path(staging)).read_bytes()
        bundle = ModelBundle.from_bytes(data, expected_sha256=info.sha256)
        return LoadedModel(bundle=bundle, version=info.version, sha256=info.sha256, run_id=info.run_id)

    def download(self, ref: int | str, dest_dir: str | os.PathLike[str]) -> tuple[Path, ModelVersionInfo]:
        """Copy a verified artifact to ``dest_dir/<model_name>-v<version>.arfids`` (replacing it atomically)."""
        info = self.info(ref)
        destination = Path(dest_dir)
        destination.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix=".arf-ids-download-", dir=destination) as staging:
            path = self._verified_artifact(info, Path(staging))
            target = destination / f"{self.config.model_name}-v{info.version}.arfids"
            os.replace(path, target)
        return target, info

    def versions(self) -> list[ModelVersionInfo]:
        """Every version of ``model_name``, oldest first (empty when none is registered)."""
        found: list[ModelVersion] = []
        token: str | None = None
        with self._calling(f"listing the versions of model {self.config.model_name!r}") as client:
            while True:
                page = client.search_model_versions(f"name='{self.config.model_name}'", page_token=token)
                found.extend(page)
                token = page.token
                if not token:
                    break
        aliases = self._aliases_by_version()
        return sorted((self._info(v, aliases.get(int(v.version), ())) for v in found), key=lambda i: i.version)

    def _production_state(self) -> tuple[int | None, list[int]]:
        """The current production version and the history stack, reconciled with the alias."""
        name = self.config.model_name
        try:
            with self._calling(f"reading the production history of model {name!r}") as client:
                model = client.get_registered_model(name)
        except RegistryError as error:
            if isinstance(error.__cause__, MlflowException) and _error_code(error.__cause__) == _NOT_FOUND:
                return None, []
            raise
        history = [int(v) for v in json.loads((model.tags or {}).get(HISTORY_TAG, "[]"))]
        alias = model.aliases.get(PRODUCTION_ALIAS)
        current = None if alias is None else int(alias)
        if current is not None and (not history or history[-1] != current):
            history.append(current)
        return current, history

    def production_history(self) -> list[int]:
        """Versions promoted to production and not rolled back, oldest first; the last is current.

        A production alias moved outside :meth:`promote` counts as the newest entry.
        """
        return self._production_state()[1]

    def _move_production(self, version: int, history: list[int]) -> None:
        with self._calling(f"moving {PRODUCTION_ALIAS!r} to version {version}") as client:
            client.set_registered_model_alias(self.config.model_name, PRODUCTION_ALIAS, str(version))
            client.set_registered_model_tag(self.config.model_name, HISTORY_TAG, _json_tag(history[-HISTORY_LIMIT:]))

    def _tag_version(self, version: int, tags: Mapping[str, str]) -> None:
        with self._calling(f"tagging version {version}") as client:
            for key, value in tags.items():
                client.set_model_version_tag(self.config.model_name, str(version), key, value)

    def promote(self, version: int, *, reason: str) -> int | None:
        """Move ``production`` to ``version``; returns the previous production version (None if none).

        The version gets tags ``promoted_at``, ``promotion_reason`` and
        ``previous_production``; the history stack gains ``version``.
        """
        self._model_version(version)
        previous, history = self._production_state()
        if previous != version:
            history.append(version)
        self._move_production(version, history)
        self._tag_version(
            version,
            {
                "promoted_at": datetime.now(UTC).isoformat(),
                "promotion_reason": reason,
                "previous_production": "" if previous is None else str(previous),
            },
        )
        return previous

    def rollback(self, *, reason: str = "rollback") -> int:
        """Move ``production`` back to the version promoted before the current one; returns it.

        The current version leaves the history stack and gets ``rolled_back_at`` and
        ``rollback_reason`` tags. :class:`RegistryError` when there is no earlier version.
        """
        history = self.production_history()
        if not history:
            raise RegistryError(f"model {self.config.model_name!r} has no production version to roll back")
        if len(history) < 2:
            raise RegistryError(
                f"model {self.config.model_name!r}: no version was in production before version {history[-1]}"
            )
        current = history.pop()
        self._move_production(history[-1], history)
        self._tag_version(current, {"rolled_back_at": datetime.now(UTC).isoformat(), "rollback_reason": reason})
        return history[-1]
