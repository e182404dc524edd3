"""The registry watcher: load the ``production`` model, then swap in each new one.

:meth:`RegistryPoller.check` (blocking; it runs in a worker thread) asks the registry
which version carries ``production``. A new version is downloaded into the local-copy
directory, its sha256 checked against the registry, decoded, recorded as the local
copy and returned; :meth:`RegistryPoller.poll` then swaps it in on the event loop and
calls ``on_swap``. A corrupt or unverifiable artifact is refused (and not tried again)
while the old model keeps serving. An unreachable registry changes nothing but the
status; with no model loaded yet, the verified local copy is served instead.

Use (``registry_factory`` builds a :class:`~arf_ids.core.registry.ModelRegistry`)::

    poller = RegistryPoller(registry_factory, holder, LocalModelCopy(cache_dir, model_name="arf-ids"),
                            poll_seconds=10, on_swap=lambda new, old: print(new.version))
    task = asyncio.create_task(poller.run())     # polls at once, then every 10 s
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from arf_ids.core.errors import ModelIntegrityError, RegistryError
from arf_ids.core.model import ModelBundle
from arf_ids.core.registry import PRODUCTION_ALIAS, ModelRegistry
from arf_ids.serving.holder import ModelHolder, ServedModel
from arf_ids.serving.localcopy import LocalModelCopy

logger = logging.getLogger(__name__)

RegistryState = Literal["unknown", "reachable", "unreachable"]


@dataclass
class RegistryStatus:
    """What the poller last learned from the registry."""

    state: RegistryState = "unknown"
    production_version: int | None = None
    last_poll_at: datetime | None = None
    last_error: str | None = None
    refused: dict[int, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        """The status for ``GET /``, with any credentials in URLs masked."""
        return {
            "state": self.state,
            "production_version": self.production_version,
            "last_poll_at": self.last_poll_at.isoformat() if self.last_poll_at else None,
            "last_error": _without_credentials(self.last_error) if self.last_error else None,
            "refused_versions": {str(version): reason for version, reason in self.refused.items()},
        }


def _without_credentials(text: str) -> str:
    """``text`` with the user-info part of any URL (``scheme://user:password@host``) masked.

    >>> _without_credentials("cannot reach http://ops:s3cret@mlflow:5000/api")
    'cannot reach http://***@mlflow:5000/api'
    """
    return re.sub(r"(\w+://)[^/@\s]+@", r"\1***@", text)


class RegistryPoller:
    """Keeps ``holder`` on the registry's production version."""

    def __init__(
        self,
        registry_factory: Callable[[], ModelRegistry],
        holder: ModelHolder,
        local_copy: LocalModelCopy,
        *,
        poll_seconds: float,
        on_swap: Callable[[ServedModel, ServedModel | None], None] | None = None,
        on_refusal: Callable[[int, str], None] | None = None,
    ) -> None:
        self._registry_factory = registry_factory
        self._registry: ModelRegistry | None = None
        self._holder = holder
        self._local_copy = local_copy
        self.poll_seconds = poll_seconds
        self._on_swap = on_swap
        self._on_refusal = on_refusal
        self.status = RegistryStatus()
        self._polling = asyncio.Lock()

    async def run(self) -> None:
        """Poll now and then every ``poll_seconds``, forever (cancel the task to stop)."""
        while True:
            try:
                await self.poll()
            except Exception:  # a bug must not stop the watcher; the old model keeps serving
                logger.exception("registry poll failed")
            await asyncio.sleep(self.poll_seconds)

    async def poll(self) -> ServedModel | None:
        """One check off the event loop, then the swap on it; returns the model swapped in."""
        async with self._polling:
            loaded = await asyncio.to_thread(self.check)
            if loaded is None:
                return None
            previous = self._holder.current
            reloads = self._holder.swap(loaded)
            if previous is None or previous.version != loaded.version:
                logger.warning(
                    "now serving model version %s from the %s (reload count %d)", loaded.version, loaded.source, reloads
                )
                if self._on_swap is not None:
                    self._on_swap(loaded, previous)
            return loaded

    def check(self) -> ServedModel | None:
        """The model to serve next, or None to keep the current one (blocking)."""
        current = self._holder.current
        self.status.last_poll_at = datetime.now(UTC)
        try:
            registry = self._registry = self._registry or self._registry_factory()
            version = registry.version_for(PRODUCTION_ALIAS)
        except RegistryError as error:
            self._unreachable(error)
            return self._fallback(current)
        self._reachable(version)
        if version is None:
            return self._fallback(current)
        if current is not None and current.version == version:
            return replace(current, source="registry") if current.source != "registry" else None
        if version in self.status.refused:
            return self._fallback(current)
        try:
            path, info = registry.download(version, self._local_copy.directory)
        except ModelIntegrityError as error:
            return self._refuse(version, error, current)
        except RegistryError as error:
            self._unreachable(error)
            return self._fallback(current)
        try:
            bundle = ModelBundle.load(path, expected_sha256=info.sha256)
        except ModelIntegrityError as error:
            Path(path).unlink(missing_ok=True)
            return self._refuse(version, error, current)
        self._local_copy.record(path, info)
        return ServedModel.of(bundle, version=info.version, sha256=info.sha256, run_id=info.run_id, source="registry")

    def _fallback(self, current: ServedModel | None) -> ServedModel | None:
        """With nothing served yet, the verified local copy (or None when there is none)."""
        if current is not None:
            return None
        try:
            model = self._local_copy.load()
        except (RegistryError, ModelIntegrityError) as error:
            logger.warning("no model to serve yet: %s", error)
            return None
        logger.warning(
            "registry %s: serving version %s from the local copy in %s",
            self.status.state, model.version, self._local_copy.directory,
        )
        return model

    def _refuse(self, version: int, error: Exception, current: ServedModel | None) -> ServedModel | None:
        reason = str(error)
        self.status.refused[version] = reason
        logger.error("refusing production version %s: %s", version, reason)
        if self._on_refusal is not None:
            self._on_refusal(version, reason)
        return self._fallback(current)

    def _unreachable(self, error: RegistryError) -> None:
        if self.status.state != "unreachable":
            logger.warning(
                "model registry unreachable; still serving, retrying every %ss: %s", self.poll_seconds, error
            )
        self.status.state = "unreachable"
        self.status.last_error = str(error)

    def _reachable(self, version: int | None) -> None:
        if self.status.state == "unreachable":
            logger.warning("model registry reachable again")
        self.status.state = "reachable"
        self.status.last_error = None if version is not None else "the registry has no production model"
        self.status.production_version = version
