"""The service's verified local copy of the production model, for when the registry is down.

After each successful load from the registry the artifact stays in ``directory`` next to
a manifest (``production.json``: model name, version, sha256, run id). At a start with
no registry, :meth:`LocalModelCopy.load` serves that file after checking its sha256
against the manifest. Older copies are removed when a new one is recorded.

>>> import tempfile
>>> copy = LocalModelCopy(tempfile.mkdtemp(), model_name="arf-ids")
>>> copy.load()
Traceback (most recent call last):
...
arf_ids.core.errors.RegistryError: no local copy of model 'arf-ids' in ...
"""

from __future__ import annotations

import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from arf_ids.core.errors import ModelIntegrityError, RegistryError
from arf_ids.core.model import ModelBundle
from arf_ids.core.registry import ModelVersionInfo
from arf_ids.serving.holder import ServedModel

MANIFEST = "production.json"


class LocalModelCopy:
    """The last verified production artifact and its manifest in one directory."""

    def __init__(self, directory: str | os.PathLike[str], *, model_name: str) -> None:
        self.directory = Path(directory)
        self.model_name = model_name

    @property
    def manifest_path(self) -> Path:
        return self.directory / MANIFEST

    def record(self, artifact: Path, info: ModelVersionInfo) -> None:
        """Make ``artifact`` (a verified file inside ``directory``) the local copy."""
        manifest = {
            "model_name": self.model_name,
            "version": info.version,
            "sha256": info.sha256,
            "run_id": info.run_id,
            "file": artifact.name,
            "recorded_at": datetime.now(UTC).isoformat(),
        }
        self.directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile("w", dir=self.directory, prefix=f".{MANIFEST}.", delete=False) as tmp:
            json.dump(manifest, tmp, indent=2)
        os.replace(tmp.name, self.manifest_path)
        for stale in self.directory.glob(f"{self.model_name}-v*.arfids"):
            if stale.name != artifact.name:
                stale.unlink(missing_ok=True)

    def load(self) -> ServedModel:
        """The recorded copy, verified; :class:`RegistryError` when there is none."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except FileNotFoundError:
            raise RegistryError(f"no local copy of model {self.model_name!r} in {self.directory}") from None
        except (OSError, ValueError) as error:
            raise ModelIntegrityError(f"the local copy's manifest {self.manifest_path} is unreadable: {error}") \
                from None
        if manifest.get("model_name") != self.model_name:
            raise ModelIntegrityError(
                f"the local copy in {self.directory} is of model {manifest.get('model_name')!r}, "
                f"not {self.model_name!r}"
            )
        path = self.directory / str(manifest["file"])
        try:
            bundle = ModelBundle.load(path, expected_sha256=str(manifest["sha256"]))
        except FileNotFoundError:
            raise ModelIntegrityError(f"the local copy {path} named by {self.manifest_path} is missing") from None
        return ServedModel.of(
            bundle,
            version=int(manifest["version"]),
            sha256=str(manifest["sha256"]),
            run_id=str(manifest["run_id"]),
            source="local copy",
        )
