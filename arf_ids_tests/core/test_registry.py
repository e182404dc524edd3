"""The MLflow model registry against real SQLite-backed MLflow stores in temporary directories."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import mlflow
import mlflow.pyfunc
import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient

from arf_ids.core.errors import ModelIntegrityError, RegistryError
from arf_ids.core.model import ArfConfig, ModelBundle
from arf_ids.core.registry import (
    HISTORY_TAG,
    PRODUCTION_ALIAS,
    LoadedModel,
    ModelRegistry,
    RegistryConfig,
)
from arf_ids.core.schema import FlowSchema

SCHEMA = FlowSchema(features=("Flow Duration", "Fwd Packets/s", "Bwd Packets/s"))
CLASSES = ("BENIGN", "DoS", "PortScan")


def train_bundle(seed: int) -> ModelBundle:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(300, len(SCHEMA)))
    y = np.select([X[:, 0] > 0.5, X[:, 1] > 0.5], ["DoS", "PortScan"], "BENIGN")
    return ModelBundle.train(X, y, schema=SCHEMA, classes=CLASSES, config=ArfConfig(n_models=3, seed=seed))


def config_in(home: Path, model_name: str = "arf-ids") -> RegistryConfig:
    return RegistryConfig(
        tracking_uri=f"sqlite:///{home}/mlflow.db",
        artifact_location=(home / "mlartifacts").as_uri(),
        model_name=model_name,
    )


def register(registry: ModelRegistry, bundle: ModelBundle, **kwargs: object):
    return registry.register(
        bundle,
        metrics={"macro_f1": 0.91, "accuracy": 0.95},
        params={"n_models": 3, "grace_period": 50},
        data={"source": "generator", "rows": 300},
        **kwargs,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def bundles() -> tuple[ModelBundle, ModelBundle]:
    return train_bundle(1), train_bundle(2)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("registry")


@pytest.fixture(scope="module")
def registry(home: Path, bundles: tuple[ModelBundle, ModelBundle]) -> ModelRegistry:
    """One registry holding two versions, shared by the read-only tests of this module."""
    shared = ModelRegistry(config_in(home))
    register(shared, bundles[0], run_name="first", tags={"team": "soc"})
    register(shared, bundles[1], run_name="second", alias="candidate")
    return shared


def test_register_records_the_run_and_the_version(registry: ModelRegistry, bundles, home: Path) -> None:
    first, second = registry.versions()
    assert (first.version, second.version) == (1, 2)
    assert first.sha256 == hashlib.sha256(bundles[0].to_bytes()).hexdigest()
    assert second.sha256 == hashlib.sha256(bundles[1].to_bytes()).hexdigest()
    assert first.metrics == {"macro_f1": 0.91, "accuracy": 0.95}
    assert first.tags["river_version"] == bundles[0].river_version
    assert first.tags["seed"] == "1" and second.tags["seed"] == "2"
    assert first.tags["team"] == "soc"
    assert '"rows":300' in first.tags["data"]
    assert "candidate" in second.aliases and "candidate" not in first.aliases
    assert first.created_at.tzinfo is not None and first.created_at <= second.created_at

    run = MlflowClient(tracking_uri=registry.config.tracking_uri).get_run(first.run_id)
    assert run.info.run_name == "first"
    assert run.data.params == {"n_models": "3", "grace_period": "50"}
    assert run.data.metrics == {"macro_f1": 0.91, "accuracy": 0.95}
    assert run.data.tags["sha256"] == first.sha256
    assert run.data.tags["n_features"] == "3"
    assert run.data.tags["data.source"] == "generator"
    assert '"PortScan"' in run.data.tags["classes"]
    assert run.info.artifact_uri.startswith((home / "mlartifacts").as_uri())


def test_load_returns_the_registered_bundle(registry: ModelRegistry, bundles) -> None:
    loaded = registry.load(1)
    assert isinstance(loaded, LoadedModel)
    assert (loaded.version, loaded.sha256) == (1, hashlib.sha256(bundles[0].to_bytes()).hexdigest())
    assert loaded.run_id == registry.info(1).run_id
    assert (loaded.bundle.schema, loaded.bundle.classes, loaded.bundle.seed) == (SCHEMA, CLASSES, 1)
    X = np.random.default_rng(9).normal(size=(50, len(SCHEMA)))
    expected = bundles[0].predict_matrix(X)
    actual = loaded.bundle.predict_matrix(X)
    assert actual.labels.tolist() == expected.labels.tolist()
    np.testing.assert_array_equal(actual.probabilities, expected.probabilities)

    by_alias = registry.load("candidate")
    assert (by_alias.version, by_alias.bundle.seed) == (2, 2)


def test_download_keeps_a_verified_copy(registry: ModelRegistry, tmp_path: Path) -> None:
    path, info = registry.download(2, tmp_path / "models")
    assert path.parent == tmp_path / "models" and path.exists()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == info.sha256
    assert ModelBundle.load(path, expected_sha256=info.sha256).classes == CLASSES
    assert list((tmp_path / "models").iterdir()) == [path]


def test_the_artifact_is_an_mlflow_pyfunc_model(registry: ModelRegistry, bundles) -> None:
    source = MlflowClient(tracking_uri=registry.config.tracking_uri).get_model_version("arf-ids", "1").source
    pyfunc = mlflow.pyfunc.load_model(source)
    frame = pd.DataFrame(np.random.default_rng(3).normal(size=(20, len(SCHEMA))), columns=list(SCHEMA.features))
    predicted = pyfunc.predict(frame)
    assert predicted["label"].tolist() == bundles[0].predict_labels(frame.to_numpy()).tolist()
    assert predicted["confidence"].between(0, 1).all()


def test_aliases(registry: ModelRegistry) -> None:
    assert registry.version_for("candidate") == 2
    assert registry.version_for("nobody-set-this") is None
    registry.set_alias("shadow", 1)
    assert registry.version_for("shadow") == 1
    assert registry.info(1).aliases == ("shadow",)
    with pytest.raises(RegistryError, match="version 99"):
        registry.set_alias("shadow", 99)
    assert registry.version_for("shadow") == 1


def test_unknown_versions_and_aliases_are_named(registry: ModelRegistry, tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="no version 42"):
        registry.load(42)
    with pytest.raises(RegistryError, match="no alias 'stable'"):
        registry.load("stable")
    with pytest.raises(RegistryError, match="no version 42"):
        registry.download(42, tmp_path)
    with pytest.raises(RegistryError, match="no version 42"):
        registry.promote(42, reason="typo")


def test_promote_and_rollback_keep_the_history(home: Path, bundles) -> None:
    registry = ModelRegistry(config_in(home, model_name="arf-ids-promotion"))
    assert registry.production_history() == []
    with pytest.raises(RegistryError, match="no production version"):
        registry.rollback()
    v1 = register(registry, bundles[0], alias=PRODUCTION_ALIAS).version
    v2 = register(registry, bundles[1]).version
    v3 = register(registry, bundles[0]).version
    assert registry.version_for(PRODUCTION_ALIAS) == v1

    assert registry.promote(v2, reason="better macro F1") == v1
    assert registry.promote(v3, reason="drift retrain") == v2
    assert registry.production_history() == [v1, v2, v3]
    promoted = registry.info(v3).tags
    assert (promoted["promotion_reason"], promoted["previous_production"]) == ("drift retrain", str(v2))

    assert registry.rollback(reason="false positives") == v2
    assert registry.version_for(PRODUCTION_ALIAS) == v2
    assert registry.load(PRODUCTION_ALIAS).version == v2
    assert registry.production_history() == [v1, v2]
    assert registry.info(v3).tags["rollback_reason"] == "false positives"

    assert registry.rollback() == v1
    with pytest.raises(RegistryError, match=f"before version {v1}"):
        registry.rollback()
    assert registry.version_for(PRODUCTION_ALIAS) == v1

    # An alias moved by hand is folded into the history instead of being lost.
    registry.set_alias(PRODUCTION_ALIAS, v3)
    assert registry.production_history() == [v1, v3]
    assert registry.rollback() == v1
    stored = MlflowClient(tracking_uri=registry.config.tracking_uri).get_registered_model("arf-ids-promotion")
    assert stored.tags[HISTORY_TAG] == f"[{v1}]"


def test_a_tampered_artifact_is_refused(home: Path, bundles, tmp_path: Path) -> None:
    registry = ModelRegistry(config_in(home, model_name="arf-ids-tamper"))
    info = register(registry, bundles[0])
    stored = home / "mlartifacts" / info.run_id / "artifacts" / "model" / "model.arfids"
    data = bytearray(stored.read_bytes())
    data[-10] ^= 0xFF
    stored.write_bytes(bytes(data))

    with pytest.raises(ModelIntegrityError, match="does not match the registered"):
        registry.load(info.version)
    with pytest.raises(ModelIntegrityError, match="does not match the registered"):
        registry.download(info.version, tmp_path / "copies")
    assert not any(path.is_file() for path in (tmp_path / "copies").rglob("*"))


def test_an_unreachable_server_fails_fast(tmp_path: Path) -> None:
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    registry = ModelRegistry(RegistryConfig(tracking_uri=f"http://127.0.0.1:{port}"))
    started = time.monotonic()
    with pytest.raises(RegistryError, match=f"127.0.0.1:{port}"):
        registry.versions()
    with pytest.raises(RegistryError, match=f"127.0.0.1:{port}"):
        registry.load(PRODUCTION_ALIAS)
    # MLflow's own defaults (7 retries, backoff 2) would keep retrying for minutes.
    assert time.monotonic() - started < 30


def test_two_registries_in_one_process_stay_apart(registry: ModelRegistry, bundles, tmp_path: Path) -> None:
    global_uri = mlflow.get_tracking_uri()
    other = ModelRegistry(config_in(tmp_path))
    only = register(other, bundles[1], alias="candidate")

    assert [info.version for info in other.versions()] == [1]
    assert other.version_for("shadow") is None
    assert [info.version for info in registry.versions()] == [1, 2]
    assert registry.info(1).sha256 != only.sha256
    assert other.load("candidate").bundle.seed == 2
    assert mlflow.get_tracking_uri() == global_uri
    assert (tmp_path / "mlartifacts" / only.run_id).is_dir()
