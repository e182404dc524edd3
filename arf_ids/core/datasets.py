"""Data set storage: Parquet frames and JSON documents under one root, local or S3.

Assets of the lineage hand data to each other through a ``DatasetStore``: a local
directory by default, any S3-compatible bucket by configuration (the client comes
from the caller, e.g. dagster-aws's ``S3Resource``).

>>> import tempfile, pandas as pd
>>> store = DatasetStore.local(tempfile.mkdtemp())
>>> store.write_frame("demo/flows", pd.DataFrame({"a": [1.0]}))
'demo/flows.parquet'
>>> store.read_frame("demo/flows")["a"].tolist()
[1.0]
"""

from __future__ import annotations

import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from arf_ids.core.errors import ArfIdsError


class DatasetNotFoundError(ArfIdsError, LookupError):
    """No data set is stored under that key (its asset was never materialised)."""


class _Backend(Protocol):
    def put(self, name: str, data: bytes) -> None: ...

    def get(self, name: str) -> bytes: ...

    def exists(self, name: str) -> bool: ...


class _LocalBackend:
    def __init__(self, root: Path) -> None:
        self.root = root

    def put(self, name: str, data: bytes) -> None:
        target = self.root / name
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)  # atomic: a reader never sees half a file

    def get(self, name: str) -> bytes:
        try:
            return (self.root / name).read_bytes()
        except FileNotFoundError:
            raise DatasetNotFoundError(f"no data set {name!r} under {self.root}") from None

    def exists(self, name: str) -> bool:
        return (self.root / name).exists()


class _S3Backend:
    def __init__(self, client: Any, bucket: str, prefix: str) -> None:
        self.client, self.bucket, self.prefix = client, bucket, prefix.strip("/")

    def _key(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    def put(self, name: str, data: bytes) -> None:
        self.client.put_object(Bucket=self.bucket, Key=self._key(name), Body=data)

    def get(self, name: str) -> bytes:
        try:
            return self.client.get_object(Bucket=self.bucket, Key=self._key(name))["Body"].read()
        except self.client.exceptions.NoSuchKey:
            raise DatasetNotFoundError(f"no data set {name!r} in s3://{self.bucket}/{self.prefix}") from None

    def exists(self, name: str) -> bool:
        listing = self.client.list_objects_v2(Bucket=self.bucket, Prefix=self._key(name), MaxKeys=1)
        return any(item["Key"] == self._key(name) for item in listing.get("Contents", []))


class DatasetStore:
    """Frames as Parquet and documents as JSON, by key, under one root."""

    def __init__(self, backend: _Backend, description: str) -> None:
        self._backend = backend
        self.description = description

    @classmethod
    def local(cls, root: str | Path) -> DatasetStore:
        path = Path(root).expanduser().resolve()
        return cls(_LocalBackend(path), str(path))

    @classmethod
    def s3(cls, client: Any, url: str) -> DatasetStore:
        """A store in ``s3://bucket/prefix`` through a boto3-compatible client."""
        if not url.startswith("s3://"):
            raise ValueError(f"not an s3:// URL: {url!r}")
        bucket, _, prefix = url.removeprefix("s3://").partition("/")
        return cls(_S3Backend(client, bucket, prefix), url)

    def write_frame(self, key: str, frame: pd.DataFrame) -> str:
        buffer = io.BytesIO()
        frame.to_parquet(buffer, index=False)
        name = f"{key}.parquet"
        self._backend.put(name, buffer.getvalue())
        return name

    def read_frame(self, key: str) -> pd.DataFrame:
        return pd.read_parquet(io.BytesIO(self._backend.get(f"{key}.parquet")))

    def write_json(self, key: str, document: Any) -> str:
        name = f"{key}.json"
        self._backend.put(name, json.dumps(document, indent=2, sort_keys=True, default=str).encode())
        return name

    def read_json(self, key: str) -> Any:
        return json.loads(self._backend.get(f"{key}.json"))

    def write_bytes(self, name: str, data: bytes) -> str:
        self._backend.put(name, data)
        return name

    def exists(self, name: str) -> bool:
        return self._backend.exists(name)

    def __repr__(self) -> str:
        return f"DatasetStore({self.description!r})"
