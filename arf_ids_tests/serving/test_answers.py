"""The ``/predict`` answer, serialised without a response model, is ``PredictionOut`` value for value."""

from __future__ import annotations

import json

import pytest

from arf_ids.serving.api import PredictionOut
from arf_ids.serving.scoring import prediction_json


@pytest.mark.parametrize(
    ("flow_id", "label", "confidence", "latency_ms"),
    [
        ("f1", "BENIGN", 1.0, 0.5),
        ('quote " and \\ backslash', "DoS", 0.1 + 0.2, 1e-05),
        ("ünïcode ☃ \n\t\x00 control", "PortScan", 5e-324, 123456789.123),
        ("x" * 256, "Web Attack \u2013 XSS", 0.0, 0.0),
    ],
)
def test_prediction_json_is_prediction_out_with_the_same_values(
    flow_id: str, label: str, confidence: float, latency_ms: float
) -> None:
    body = prediction_json(flow_id, label, confidence, 7, 3, latency_ms)
    parsed = PredictionOut.model_validate_json(body)  # strict: every field, no other
    expected = PredictionOut(flow_id=flow_id, prediction=label, confidence=confidence, trees_used=7,
                             model_version=3, latency_ms=latency_ms)
    assert parsed == expected
    assert list(json.loads(body)) == list(PredictionOut.model_fields)  # the documented field order
