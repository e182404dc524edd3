"""Each endpoint's contract against a real ``bentoml serve`` (API key set, batch limit 50, feed queue 20)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import httpx
import numpy as np
import pytest

from arf_ids.core.schema import DEFAULT_SCHEMA
from arf_ids.serving.api import PredictionOut
from arf_ids.serving.process import ServiceProcess
from arf_ids_tests.serving.support import (
    CONTRACT_API_KEY,
    feature_maps,
    flows_frame,
    logged_flow_ids,
    metric,
    metric_samples,
    wait_for,
)

KEY = {"X-API-Key": CONTRACT_API_KEY}


@pytest.fixture(scope="module")
def http(contract_service: ServiceProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=contract_service.url, timeout=60) as client:
        yield client


@pytest.fixture(scope="module")
def home(contract_service: ServiceProcess) -> Path:
    return Path(contract_service.env["ARF_IDS_HOME"])


def test_status_and_health_routes(http: httpx.Client, bundles) -> None:
    status = http.get("/").json()
    assert (status["status"], status["model_version"], status["reload_count"]) == ("ready", 1, 0)
    assert status["model_source"] == "registry"
    assert status["model_sha256"] == hashlib.sha256(bundles[0].to_bytes()).hexdigest()
    assert status["registry"]["state"] == "reachable"
    assert isinstance(status["version"], str) and status["version"]
    for path in ("/healthz", "/livez", "/readyz"):
        assert http.get(path).status_code == 200, path


def test_predict_answers_with_the_served_model(http: httpx.Client, bundles) -> None:
    for index, features in enumerate(feature_maps(flows_frame(20, seed=101))):
        sent = features if index % 2 else list(features.values())  # both forms of `features`
        response = http.post("/predict", json={"flow_id": f"contract-one-{index}", "features": sent})
        assert response.status_code == 200, response.text
        answer = response.json()
        expected = bundles[0].predict_one(features)
        PredictionOut.model_validate_json(response.content)  # every field of the documented model, and no other
        assert answer["flow_id"] == f"contract-one-{index}"
        assert (answer["prediction"], answer["trees_used"], answer["model_version"]) == (
            expected.label, expected.trees_used, 1)
        assert answer["confidence"] == pytest.approx(expected.confidence, abs=1e-12)
        assert answer["latency_ms"] > 0


def test_concurrent_predictions_scored_together_get_each_flows_own_answer(
    contract_service: ServiceProcess, bundles, home: Path
) -> None:
    frame = flows_frame(64, seed=109)
    maps = feature_maps(frame)

    async def send_all() -> list[dict[str, object]]:
        async with aiohttp.ClientSession() as session:
            async def one(index: int) -> dict[str, object]:
                body = {"flow_id": f"contract-together-{index}", "features": maps[index]}
                async with session.post(f"{contract_service.url}/predict", json=body) as response:
                    assert response.status == 200, await response.text()
                    return await response.json()

            return await asyncio.gather(*(one(index) for index in range(len(maps))))

    answers = asyncio.run(send_all())
    for index, answer in enumerate(answers):
        expected = bundles[0].predict_one(maps[index])
        assert answer["flow_id"] == f"contract-together-{index}"
        assert (answer["prediction"], answer["trees_used"]) == (expected.label, expected.trees_used)
        assert answer["confidence"] == pytest.approx(expected.confidence, abs=1e-12)
    wait_for(lambda: len(logged_flow_ids(home, "predictions", "contract-together-")) == len(maps),
             what="every concurrent prediction in the log")


def test_batch_is_scored_as_one_matrix(http: httpx.Client, bundles) -> None:
    frame = flows_frame(50, seed=102)
    flows = [{"flow_id": f"contract-batch-{i}", "features": f} for i, f in enumerate(feature_maps(frame))]
    response = http.post("/predict/batch", json={"flows": flows})
    assert response.status_code == 200, response.text
    answer = response.json()
    expected = bundles[0].predict_matrix(DEFAULT_SCHEMA.frame_matrix(frame))
    assert answer["model_version"] == 1 and answer["latency_ms"] > 0
    assert [p["flow_id"] for p in answer["predictions"]] == [f["flow_id"] for f in flows]
    assert [p["prediction"] for p in answer["predictions"]] == expected.labels.tolist()
    assert [p["trees_used"] for p in answer["predictions"]] == expected.trees_used.tolist()
    np.testing.assert_allclose([p["confidence"] for p in answer["predictions"]], expected.confidences, atol=1e-12)


def test_a_batch_of_columns_is_answered_in_columns_like_the_same_flows_one_by_one(
    http: httpx.Client, bundles, home: Path
) -> None:
    frame = flows_frame(40, seed=108)
    flow_ids = [f"contract-columns-{i}" for i in range(len(frame))]
    columns = {name: frame[name].tolist() for name in reversed(DEFAULT_SCHEMA.features)}  # any feature order
    response = http.post("/predict/batch", json={"flow_ids": flow_ids, "columns": columns})
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"flow_ids", "predictions", "confidences", "trees_used", "model_version", "latency_ms"}
    expected = bundles[0].predict_matrix(DEFAULT_SCHEMA.frame_matrix(frame))
    assert answer["flow_ids"] == flow_ids and answer["model_version"] == 1
    assert answer["predictions"] == expected.labels.tolist()
    assert answer["trees_used"] == expected.trees_used.tolist()
    np.testing.assert_allclose(answer["confidences"], expected.confidences, atol=1e-12)
    rows = http.post("/predict/batch", json={"flows": [
        {"flow_id": f"contract-columns-as-rows-{i}", "features": f} for i, f in enumerate(feature_maps(frame))]})
    assert [p["prediction"] for p in rows.json()["predictions"]] == answer["predictions"]
    wait_for(lambda: len(logged_flow_ids(home, "predictions", "contract-columns-")) == 2 * len(frame),
             what="both batches in the log")


def test_answers_and_labels_reach_the_logs(http: httpx.Client, contract_service: ServiceProcess) -> None:
    from arf_ids.core.logstore import LogStore

    frame = flows_frame(10, seed=103)
    answers = {}
    for index, features in enumerate(feature_maps(frame)):
        response = http.post("/predict", json={"flow_id": f"contract-log-{index}", "features": features})
        answers[f"contract-log-{index}"] = (response.json(), features)
    truths = dict(zip(answers, frame["label"], strict=True))
    first, *rest = answers
    assert http.post("/label", json={"flow_id": first, "true_label": truths[first]}, headers=KEY).json() == {
        "accepted": 1, "model_version": 1}
    response = http.post(
        "/label/batch", json={"labels": [{"flow_id": f, "true_label": truths[f]} for f in rest]}, headers=KEY
    )
    assert response.json() == {"accepted": 9, "model_version": 1}

    store = LogStore(f"sqlite:///{contract_service.env['ARF_IDS_HOME']}/logs.db")

    def labelled():
        frame = store.labelled_frame(feature_names=DEFAULT_SCHEMA.features)
        return frame.loc[frame["flow_id"].isin(list(answers))] if len(frame) else frame

    logged = wait_for(lambda: frame if len(frame := labelled()) == 10 else None, what="the 10 labelled predictions")
    for row in logged.itertuples(index=False):
        answer, features = answers[row.flow_id]
        assert (row.predicted_label, row.trees_used, row.model_version) == (
            answer["prediction"], answer["trees_used"], "1")
        assert row.confidence == pytest.approx(answer["confidence"])
        assert row.label == truths[row.flow_id]
    logged_features = logged.set_index("flow_id").loc[list(answers), list(DEFAULT_SCHEMA.features)]
    np.testing.assert_array_equal(logged_features.to_numpy(), [list(f.values()) for _, f in answers.values()])
    store.close()


def _flow(name: str, **changes: object) -> dict[str, object]:
    features: dict[str, object] = dict(feature_maps(flows_frame(1, seed=104))[0])
    features.update(changes)
    return {"flow_id": f"bad-{name}", "features": features}


def _raw(body: dict[str, object]) -> bytes:
    return json.dumps(body).encode()  # NaN and ±Infinity become the bare JSON tokens


GOOD = _flow("never")["features"]
BAD_INPUTS = [
    ("invalid JSON", "/predict", b'{"flow_id": "bad-json", "features": [1, 2', 400, ["body"]),
    ("missing feature", "/predict",
     _raw({"flow_id": "bad-missing", "features": {k: v for k, v in GOOD.items() if k != "Flow Duration"}}),
     400, ["features", "Flow Duration"]),
    ("unknown feature", "/predict", _raw(_flow("unknown", **{"Payload Entropy": 1.0})), 400,
     ["features", "Payload Entropy"]),
    ("list too short", "/predict", _raw({"flow_id": "bad-short", "features": list(GOOD.values())[:-1]}), 400,
     ["features"]),
    ("list too long", "/predict", _raw({"flow_id": "bad-long", "features": [*GOOD.values(), 1.0]}), 400, ["features"]),
    ("text value", "/predict", _raw(_flow("text", **{"Flow Duration": "12"})), 400, ["features", "Flow Duration"]),
    ("boolean value", "/predict", _raw(_flow("bool", **{"Flow Duration": True})), 400, ["features", "Flow Duration"]),
    ("null value", "/predict", _raw(_flow("null", **{"Flow Duration": None})), 400, ["features", "Flow Duration"]),
    ("NaN", "/predict", _raw(_flow("nan", **{"Flow Duration": float("nan")})), 400, ["features", "Flow Duration"]),
    ("+Infinity", "/predict", _raw(_flow("inf", **{"Flow Duration": float("inf")})), 400,
     ["features", "Flow Duration"]),
    ("-Infinity", "/predict", _raw(_flow("ninf", **{"Fwd Packets/s": float("-inf")})), 400,
     ["features", "Fwd Packets/s"]),
    ("overflow 1e999", "/predict", _raw(_flow("big", **{"Flow Duration": 0.0})).replace(
        b'"Flow Duration": 0.0', b'"Flow Duration": 1e999'), 400, ["features", "Flow Duration"]),
    ("features as text", "/predict", _raw({"flow_id": "bad-feature-text", "features": "1,2,3"}), 400, ["features"]),
    ("missing flow_id", "/predict", _raw({"features": GOOD}), 400, ["flow_id"]),
    ("empty batch", "/predict/batch", _raw({"flows": []}), 400, ["flows"]),
    ("oversized batch", "/predict/batch", _raw({"flows": [_flow(f"over-{i}") for i in range(51)]}), 400, ["flows"]),
    ("bad flow in a batch", "/predict/batch",
     _raw({"flows": [_flow("batch-0"), _flow("batch-1", **{"Flow Duration": "x"})]}), 400,
     ["flows", 1, "features", "Flow Duration"]),
    ("columns: missing feature", "/predict/batch",
     _raw({"flow_ids": ["bad-c0"], "columns": {k: [v] for k, v in GOOD.items() if k != "Flow Duration"}}), 400,
     ["columns", "Flow Duration"]),
    ("columns: unknown feature", "/predict/batch",
     _raw({"flow_ids": ["bad-c1"], "columns": {**{k: [v] for k, v in GOOD.items()}, "Payload Entropy": [1.0]}}),
     400, ["columns", "Payload Entropy"]),
    ("columns: too few values", "/predict/batch",
     _raw({"flow_ids": ["bad-c2", "bad-c3"],
           "columns": {k: [v, v] for k, v in GOOD.items()} | {"Flow IAT Min": [1.0]}}),
     400, ["columns", "Flow IAT Min"]),
    ("columns: NaN", "/predict/batch",
     _raw({"flow_ids": ["bad-c4", "bad-c5"], "columns": {k: [v, v] for k, v in GOOD.items()} | {
         "Flow Duration": [1.0, float("nan")]}}), 400, ["columns", "Flow Duration", 1]),
    ("columns: text", "/predict/batch",
     _raw({"flow_ids": ["bad-c6"], "columns": {k: [v] for k, v in GOOD.items()} | {"Flow Duration": ["1"]}}), 400,
     ["columns", "Flow Duration", 0]),
    ("columns: too many flows", "/predict/batch",
     _raw({"flow_ids": [f"bad-c-over-{i}" for i in range(51)], "columns": {k: [v] * 51 for k, v in GOOD.items()}}),
     400, ["flow_ids"]),
    ("both batch shapes", "/predict/batch",
     _raw({"flows": [_flow("both")], "flow_ids": ["bad-both"], "columns": {k: [v] for k, v in GOOD.items()}}), 400,
     ["body"]),
    ("columns without flow_ids", "/predict/batch", _raw({"columns": {k: [v] for k, v in GOOD.items()}}), 400,
     ["body"]),
    ("body over 1 MiB", "/predict", _raw({"flow_id": "bad-huge", "features": GOOD, "pad": "x" * (1 << 20)}), 413,
     ["body"]),
    ("unknown label", "/label", _raw({"flow_id": "bad-label", "true_label": "Worm"}), 400, ["true_label"]),
    ("unknown label in a batch", "/label/batch",
     _raw({"labels": [{"flow_id": "bad-l0", "true_label": "DoS"}, {"flow_id": "bad-l1", "true_label": "Worm"}]}),
     400, ["labels", 1, "true_label"]),
]


@pytest.mark.parametrize(("case", "path", "body", "status", "loc"), BAD_INPUTS, ids=[c[0] for c in BAD_INPUTS])
def test_bad_input_is_refused_naming_the_field_and_the_service_stays_up(
    http: httpx.Client, case: str, path: str, body: bytes, status: int, loc: list[object]
) -> None:
    response = http.post(path, content=body, headers={"content-type": "application/json", **KEY})
    assert response.status_code == status, response.text
    error = response.json()
    assert error["error"] and error["detail"], error
    assert loc in [detail["loc"] for detail in error["detail"]], error
    assert all(detail["msg"] for detail in error["detail"])
    good = http.post("/predict", json={"flow_id": f"good-after-{case}", "features": GOOD})
    assert good.status_code == 200 and good.json()["model_version"] == 1


def test_the_no_op_route_parses_like_predict_and_logs_nothing(http: httpx.Client, home: Path) -> None:
    """``/noop`` (the benchmark's floor) refuses what ``/predict`` refuses and stores nothing."""
    answered = http.post("/noop", json={"flow_id": "noop-1", "features": GOOD})
    assert answered.status_code == 200 and answered.json() == {"status": "ok"}, answered.text
    refused = http.post("/noop", json={"features": GOOD})
    assert refused.status_code == 400 and ["flow_id"] in [d["loc"] for d in refused.json()["detail"]]
    sentinel = "good-sentinel-after-no-ops"
    assert http.post("/predict", json={"flow_id": sentinel, "features": GOOD}).status_code == 200
    wait_for(lambda: sentinel in logged_flow_ids(home, "predictions", sentinel), what="the sentinel in the log")
    assert logged_flow_ids(home, "predictions", "noop-") == set()


def test_nothing_of_the_refused_inputs_was_logged(http: httpx.Client, home: Path) -> None:
    sentinel = "good-sentinel-after-bad-inputs"
    assert http.post("/predict", json={"flow_id": sentinel, "features": GOOD}).status_code == 200
    wait_for(lambda: sentinel in logged_flow_ids(home, "predictions", sentinel), what="the sentinel in the log")
    assert logged_flow_ids(home, "predictions", "bad-") == set()
    assert logged_flow_ids(home, "labels", "bad-") == set()
    assert len(logged_flow_ids(home, "predictions", "good-after-")) == len(BAD_INPUTS)


def test_api_key_guards_labels_admin_and_the_feed(http: httpx.Client, contract_service: ServiceProcess) -> None:
    label = {"flow_id": "contract-key-1", "true_label": "BENIGN"}
    for headers in ({}, {"X-API-Key": "wrong"}, {"Authorization": "Bearer wrong"}):
        refused = http.post("/label", json=label, headers=headers)
        assert refused.status_code == 401
        assert refused.json()["error"] == "unauthorized" and refused.headers["www-authenticate"] == "Bearer"
    assert http.post("/label", json=label, headers={"Authorization": f"Bearer {CONTRACT_API_KEY}"}).status_code == 200
    assert http.post("/label", json=label, headers=KEY).status_code == 200
    assert http.post("/label/batch", json={"labels": [label]}).status_code == 401
    assert http.post("/admin/reload").status_code == 401
    reloaded = http.post("/admin/reload", headers=KEY)
    assert reloaded.status_code == 200 and reloaded.json()["model_version"] == 1
    assert http.post("/predict", json={"flow_id": "contract-key-open", "features": GOOD}).status_code == 200
    for path in ("/", "/metrics", "/healthz", "/readyz", "/dashboard"):
        assert http.get(path).status_code == 200, path

    async def handshake(query: str) -> int:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.ws_connect(f"{contract_service.url}/ws{query}"):
                    return 101
            except aiohttp.WSServerHandshakeError as error:
                return error.status

    assert asyncio.run(handshake("")) == 401
    assert asyncio.run(handshake("?api_key=wrong")) == 401
    assert asyncio.run(handshake(f"?api_key={CONTRACT_API_KEY}")) == 101


def test_metrics_count_requests_errors_latency_and_classes(
    http: httpx.Client, contract_service: ServiceProcess
) -> None:
    before = metric_samples(contract_service.url)
    answers = [http.post("/predict", json={"flow_id": f"contract-metrics-{i}", "features": f}).json()
               for i, f in enumerate(feature_maps(flows_frame(6, seed=105)))]
    for _ in range(2):
        assert http.post("/predict", json={"flow_id": "bad-metrics", "features": [1.0]}).status_code == 400
    oversized = http.post("/predict", content=b"x" * (2 << 20), headers={"content-type": "application/json"})
    assert oversized.status_code == 413
    after = metric_samples(contract_service.url)

    def delta(name: str, **labels: str) -> float:
        return metric(after, name, **labels) - metric(before, name, **labels)

    assert delta("prediction_requests_total", endpoint="/predict") == 9
    assert delta("prediction_errors_total", endpoint="/predict", status="400") == 2
    assert delta("prediction_errors_total", endpoint="/predict", status="413") == 1
    assert delta("prediction_latency_ms_count", endpoint="/predict") == 6
    assert delta("prediction_latency_ms_bucket", endpoint="/predict", le="+Inf") == 6
    assert ("prediction_latency_ms_bucket", (("endpoint", "/predict"), ("le", "1.0"))) in after  # millisecond buckets
    for label in {a["prediction"] for a in answers}:
        assert delta("predictions_by_class_total", label=label) == sum(a["prediction"] == label for a in answers)
    assert metric(after, "model_version") == 1 and metric(after, "model_reload_count") == 0
    assert ("active_websocket_connections", ()) in after
    assert any(name.startswith("bentoml_") for name, _ in after), "BentoML's own metrics are served alongside"


def _collect_feed(url: str, flow_ids: list[str], post) -> dict[str, dict[str, object]]:  # type: ignore[no-untyped-def]
    async def run() -> dict[str, dict[str, object]]:
        seen: dict[str, dict[str, object]] = {}
        async with aiohttp.ClientSession() as session, session.ws_connect(
                f"{url}/ws?api_key={CONTRACT_API_KEY}") as socket:
            await post(session)
            async with asyncio.timeout(20):
                while not set(flow_ids) <= set(seen):
                    message = json.loads((await socket.receive()).data)
                    if message.get("flow_id") in flow_ids:
                        seen[message["flow_id"]] = message
        return seen

    return asyncio.run(run())


def test_the_feed_carries_every_prediction(contract_service: ServiceProcess) -> None:
    flows = [{"flow_id": f"contract-ws-{i}", "features": f} for i, f in enumerate(feature_maps(flows_frame(5, 106)))]
    answers: dict[str, dict[str, object]] = {}

    async def post(session: aiohttp.ClientSession) -> None:
        for flow in flows:
            async with session.post(f"{contract_service.url}/predict", json=flow) as response:
                answers[flow["flow_id"]] = await response.json()

    messages = _collect_feed(contract_service.url, [f["flow_id"] for f in flows], post)
    for flow_id, answer in answers.items():
        assert messages[flow_id] == {"type": "prediction", "flow_id": flow_id, "prediction": answer["prediction"],
                                     "confidence": answer["confidence"], "model_version": 1}


def test_a_stalled_feed_client_costs_predictions_nothing(contract_service: ServiceProcess) -> None:
    url = contract_service.url
    before = metric_samples(url)
    frame = flows_frame(50, seed=107)

    async def run() -> tuple[list[int], int, int]:
        async with aiohttp.ClientSession() as session, \
                session.ws_connect(f"{url}/ws?api_key={CONTRACT_API_KEY}") as stalled, \
                session.ws_connect(f"{url}/ws?api_key={CONTRACT_API_KEY}") as reader:
            received = 0

            async def read() -> None:
                nonlocal received
                async for _ in reader:
                    received += 1

            reading = asyncio.create_task(read())
            statuses = []
            for round_ in range(4):
                flows = [{"flow_id": f"contract-stall-{round_}-{i}", "features": f}
                         for i, f in enumerate(feature_maps(frame))]
                async with session.post(f"{url}/predict/batch", json={"flows": flows}) as response:
                    statuses.append(response.status)
            async with session.get(f"{url}/") as response:
                connections = (await response.json())["websocket_connections"]
            await asyncio.sleep(1)
            reading.cancel()
            assert not stalled.closed
            return statuses, connections, received

    statuses, connections, received = asyncio.run(run())
    assert statuses == [200] * 4
    assert connections == 2
    after = metric_samples(url)
    # each batch publishes 50 messages at once into queues of 20: at least 30 drop per client and batch
    assert metric(after, "websocket_messages_dropped_total") - metric(before, "websocket_messages_dropped_total") >= 240
    assert received >= 4 * 20
    wait_for(lambda: metric(metric_samples(url), "active_websocket_connections") == 0, what="feed clients gone")
