"""Tests of ``arf-ids evaluate`` (arf_ids.evaluate): reports, baselines, anchors, the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arf_ids import evaluate as evaluate_module
from arf_ids.cli import main
from arf_ids.core.errors import MalformedDataError
from arf_ids.evaluate import (
    EvaluationRequest,
    evaluate,
    load_data,
    parse_overrides,
    published_anchor,
    summary_table,
    target_verdict,
)

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


def fake_report(request: EvaluationRequest, **figures: dict[str, float]) -> dict:
    """A report as ``evaluate`` writes it, with the given figures per system (product first)."""
    systems = []
    for name, values in figures.items():
        system = {"name": name, "accuracy": 0.5, "macro_f1": 0.5, "f1": 0.5, "kappa": 0.5, "wall_seconds": 10.0}
        system |= {"drifts_detected": 0, "retrains": 0, "promotions": 0, "drift_recovery": None, **values}
        systems.append(system)
    key = (
        ("synthetic", request.protocol)
        if request.format == "synthetic"
        else (Path(request.data[-1]).name, request.protocol)
    )
    return {
        "command": f"arf-ids evaluate --seed {request.seed}",
        "data_name": key[0],
        "protocol": request.protocol,
        "request": request.model_dump(mode="json"),
        "anchor": published_anchor(key, request),
        "wall_seconds": 30.0,
        "systems": systems,
    }


CIC = EvaluationRequest(data=("../shared/data/cic-ids2017/cic_0.01km.csv",), binary=True, train_fraction=0.1)
NSL = ("KDDTrain+_20Percent.txt", "KDDTest+.txt")


def test_targets_are_judged_on_the_products_figures_under_the_targets_protocol() -> None:
    met = fake_report(CIC, product={"accuracy": 0.9929, "f1": 0.9792}, seed={"accuracy": 0.99, "f1": 0.97})
    assert target_verdict(met) == "accuracy ≥ 0.9920, F1 ≥ 0.9767: **met**"
    missed = fake_report(CIC, product={"accuracy": 0.9930, "f1": 0.9760})
    assert target_verdict(missed).endswith("**missed**")
    other_protocol = fake_report(CIC.model_copy(update={"train_fraction": 0.2}), product={})
    assert target_verdict(other_protocol) == "" and other_protocol["anchor"] is None
    recovery = EvaluationRequest(data=NSL, format="nsl-kdd", protocol="recovery", label_delay=500)
    wide = fake_report(recovery, product={"macro_f1": 0.70}, static={"macro_f1": 0.55})
    assert target_verdict(wide) == "macro-F1 ≥ static + 0.05 (here +0.1500): **met**"
    assert target_verdict(fake_report(recovery, product={"macro_f1": 0.70})).endswith("no static baseline in this run")
    synthetic = EvaluationRequest(format="synthetic", protocol="recovery", scenario="novel_attack")
    back = {"drift_recovery": {"flows_to_recover": 4_900, "pre_drift_macro_f1": 0.86}}
    assert target_verdict(fake_report(synthetic, product=back)).endswith("**met**")
    never = {"drift_recovery": {"flows_to_recover": None, "pre_drift_macro_f1": 0.86}}
    assert target_verdict(fake_report(synthetic, product=never)).endswith("**missed**")
    row = summary_table([fake_report(synthetic, product=back, static=never)]).splitlines()[2]
    assert "back within 0.02 of pre-drift 0.8600 after 4,900 flows" in row
    assert "static: accuracy 0.5000, macro-F1 0.5000 (0 / 0 / 0); never back within 0.02 of pre-drift 0.8600" in row


def test_the_summary_has_a_row_per_report_with_baselines_anchor_target_command_and_seed_spread() -> None:
    reports = [
        fake_report(CIC, product={"accuracy": 0.9929, "f1": 0.9792}, seed={"accuracy": 0.9889, "f1": 0.9672}),
        fake_report(CIC.model_copy(update={"seed": 1}), product={"accuracy": 0.9925, "f1": 0.9780}),
        fake_report(EvaluationRequest(data=NSL, format="nsl-kdd", protocol="holdout"), product={"accuracy": 0.81}),
    ]
    table = summary_table(reports)
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| #")]
    assert len(rows) == 3
    assert rows[0].startswith("| 1 | cic_0.01km.csv | prequential, binary, first 10% trains, seed 42 |")
    assert "**accuracy 0.9929, F1 0.9792**" in rows[0] and "seed: accuracy 0.9889, F1 0.9672" in rows[0]
    assert "accuracy 0.9920, F1 0.9767 (PWPAE" in rows[0] and rows[0].endswith("**met** |")
    assert "KDDTrain+_20Percent.txt → KDDTest+.txt | holdout, trained on the first file, seed 42 |" in rows[2]
    assert "accuracy 0.7800 (batch RandomForest" in rows[2] and rows[2].endswith("|  |")  # anchor, no target
    assert (
        "Rows 1, 2 (cic_0.01km.csv, prequential, seeds 42, 1): product accuracy 0.9925–0.9929, F1 0.9780–0.9792"
        in table
    )
    assert "1. `arf-ids evaluate --seed 42`" in table and "3. `arf-ids evaluate --seed 42`" in table
    assert "Wall time of these runs: 90 s in all (30 + 30 + 30 s)." in table


def test_the_table_command_prints_the_summary_then_every_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = fake_report(CIC, product={"accuracy": 0.9929, "f1": 0.9792}, seed={"accuracy": 0.9889, "f1": 0.9672})
    for system in report["systems"]:
        system["description"] = f"{system['name']} system"
    (tmp_path / "cic.json").write_text(json.dumps(report))
    (tmp_path / "demo.json").write_text(json.dumps({"not": "an evaluation"}))
    assert evaluate_module.main(["--table", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    assert (
        printed.index("| # | data set |")
        < printed.index("<details>")
        < printed.index("| cic_0.01km.csv | prequential | product")
    )
    with pytest.raises(MalformedDataError, match="no evaluation reports"):
        evaluate_module.main(["--table", str(tmp_path / "empty")])
