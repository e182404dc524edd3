"""Session fixtures of the service tests (see ``support`` for the machinery)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from arf_ids.core.model import ModelBundle
from arf_ids.serving.process import ServiceProcess
from arf_ids_tests.serving.support import CONTRACT_API_KEY, RegistryServer, service_env, start_service, train_bundle


@pytest.fixture(scope="session")
def bundles() -> tuple[ModelBundle, ModelBundle, ModelBundle]:
    """Three small, different models of the 19-feature schema."""
    return train_bundle(1), train_bundle(2), train_bundle(3)


@pytest.fixture(scope="session")
def registry_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    """Started, not waited for: services poll until it answers, which overlaps the slow starts."""
    server = RegistryServer(tmp_path_factory.mktemp("registry"))
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def contract_service(
    tmp_path_factory: pytest.TempPathFactory, registry_server: RegistryServer, bundles: tuple[ModelBundle, ...]
) -> Iterator[ServiceProcess]:
    """One service for the contract and dashboard tests: API key set, small batch and feed limits."""
    registry_server.publish("contract", bundles[0], promote=True)
    env = service_env(
        tmp_path_factory.mktemp("contract"), registry_server.url, "contract",
        api_key=CONTRACT_API_KEY, max_batch="50", websocket_queue_size="20", log__flush_seconds="0.2",
    )
    service = start_service(env)
    yield service
    service.stop()
