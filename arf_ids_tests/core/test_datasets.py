"""Data sets by key, local or on an S3-compatible server (moto on 127.0.0.1)."""

import pandas as pd
import pytest

from arf_ids.core.datasets import DatasetNotFoundError, DatasetStore

FRAME = pd.DataFrame({"Flow Duration": [1.0, 2.0], "label": ["BENIGN", "DoS"]})


def round_trip(store: DatasetStore) -> None:
    store.write_frame("retrain/merged", FRAME)
    pd.testing.assert_frame_equal(store.read_frame("retrain/merged"), FRAME)
    store.write_json("retrain/candidate", {"version": 3})
    assert store.read_json("retrain/candidate") == {"version": 3}
    assert store.exists("retrain/merged.parquet") and not store.exists("retrain/other.parquet")
    with pytest.raises(DatasetNotFoundError, match="retrain/other"):
        store.read_frame("retrain/other")


def test_local_store(tmp_path):
    round_trip(DatasetStore.local(tmp_path))
    assert not list(tmp_path.rglob(".*")), "no temporary files are left behind"


def test_s3_store_on_a_local_s3_server():
    boto3 = pytest.importorskip("boto3")
    moto_server = pytest.importorskip("moto.server")
    server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        client = boto3.client(
            "s3",
            endpoint_url=f"http://{host}:{port}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
        )
        client.create_bucket(Bucket="arf-ids")
        round_trip(DatasetStore.s3(client, "s3://arf-ids/state"))
        keys = [item["Key"] for item in client.list_objects_v2(Bucket="arf-ids")["Contents"]]
        assert "state/retrain/merged.parquet" in keys
    finally:
        server.stop()
