"""Tests of ``arf-ids evaluate`` (arf_ids.evaluate): reports, baselines, anchors, the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arf_ids.cli import main
from arf_ids.core.errors import MalformedDataError
from arf_ids.evaluate import EvaluationRequest, evaluate, load_data, parse_overrides

ISSUE_KEYS = (
    "accuracy",
    "macro_f1",
    "f1",
    "kappa",
    "n_flows",
    "wall_seconds",
    "drifts_detected",
    "retrains",
    "promotions",
)


def head(source: Path, target: Path, lines: int) -> Path:
    """The first ``lines`` lines of a shared data file, written to ``target``."""
    target.write_text("\n".join(source.read_text().splitlines()[:lines]) + "\n")
    return target


def check_windows(system: dict, n_flows: int) -> None:
    """Windows tile the scored stream and their accuracies average to the overall one."""
    windows = system["windows"]
    assert windows[0]["start"] == 0 and windows[-1]["end"] == n_flows
    assert all(a["end"] == b["start"] for a, b in zip(windows, windows[1:], strict=False))
    weighted = sum(w["accuracy"] * (w["end"] - w["start"]) for w in windows) / n_flows
    assert weighted == pytest.approx(system["accuracy"])


def test_prequential_report_on_a_cic_slice(shared_data: Path, tmp_path: Path) -> None:
    sample = head(shared_data / "cic-ids2017" / "cic_0.01km.csv", tmp_path / "cic_slice.csv", 2_001)
    out = tmp_path / "reports" / "cic.json"
    request = EvaluationRequest(
        data=(str(sample),), binary=True, train_fraction=0.25, baselines=("seed", "static"), window=500, out=out
    )
    report = evaluate(request, command="test", show_progress=False)
    assert json.loads(out.read_text()) == report
    assert out.with_suffix(".png").read_bytes()[:4] == b"\x89PNG"
    assert "| cic_slice.csv | prequential | product" in out.with_suffix(".md").read_text()
    assert all(key in report for key in ISSUE_KEYS)
    assert [system["name"] for system in report["systems"]] == ["product", "seed", "static"]
    assert report["n_flows"] == 1_500 and report["anchor"] is None  # not PWPAE's protocol (10% trains)
    for system in report["systems"]:
        check_windows(system, 1_500)
    product = report["systems"][0]
    assert product["accuracy"] == report["accuracy"] and product["retrains"] == 0


def test_the_command_line_on_nsl_kdd_slices_shows_the_published_anchor(shared_data: Path, tmp_path: Path) -> None:
    folder = shared_data / "nsl-kdd"
    train = head(folder / "KDDTrain+_20Percent.txt", tmp_path / "KDDTrain+_20Percent.txt", 1_500)
    test = head(folder / "KDDTest+.txt", tmp_path / "KDDTest+.txt", 800)
    out = tmp_path / "nsl.json"
    argv = ["evaluate", "--data", str(train), str(test), "--format", "nsl-kdd", "--protocol", "holdout"]
    assert main([*argv, "--out", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["anchor"]["accuracy"] == 0.78  # the batch random forest of ../shared/data/README.md
    assert report["command"].startswith("arf-ids evaluate --data")
    assert report["n_flows"] == 800
    assert [system["name"] for system in report["systems"]] == ["product", "seed"]
    assert set(report["systems"][0]["per_class_f1"]) <= {"normal", "dos", "probe", "r2l", "u2r"}
    assert "published: batch RandomForest" in out.with_suffix(".md").read_text()


def test_synthetic_recovery_reports_the_loop_and_the_drift_recovery(tmp_path: Path) -> None:
    request = EvaluationRequest(
        format="synthetic",
        protocol="recovery",
        scenario="attack_variant",
        base_flows=3_000,
        flows=4_000,
        onset=1_500,
        label_delay=100,
        min_drift_samples=600,
        baselines=("static",),
        window=500,
        out=tmp_path / "synthetic.json",
    )
    report = evaluate(request, show_progress=False)
    product, static = report["systems"]
    assert product["drifts_detected"] >= 1 and product["retrains"] >= 1
    assert report["promotions"] == product["promotions"] == sum(r["promoted"] for r in product["retrain_records"])
    assert static["retrains"] == 0 and static["drifts_detected"] >= 1
    for system in (product, static):
        recovery = system["drift_recovery"]
        assert recovery["onset"] == 1_500 and recovery["window"] == 500
        check_windows(system, 4_000)
    assert product["drift_recovery"]["pre_drift_macro_f1"] == static["drift_recovery"]["pre_drift_macro_f1"]


def test_bad_requests_raise_typed_errors(tmp_path: Path) -> None:
    with pytest.raises(MalformedDataError, match="KEY=VALUE"):
        parse_overrides(["lambda_value"])
    with pytest.raises(MalformedDataError, match="--data is required"):
        load_data(EvaluationRequest(format="cicflowmeter"))
    sample = tmp_path / "flows.csv"
    sample.write_text(" Flow Duration, Label\n10,BENIGN\n20,DoS\n")
    with pytest.raises(MalformedDataError, match="--train-fraction"):
        load_data(EvaluationRequest(data=(str(sample),)))
