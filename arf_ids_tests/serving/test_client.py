"""The HTTP replay client against the running contract service: flows, delayed labels, report."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from arf_ids.replay import ReplayConfig
from arf_ids.serving.client import HttpReplayer
from arf_ids.serving.process import ServiceProcess
from arf_ids_tests.serving.support import CONTRACT_API_KEY, flows_frame, logged_flow_ids, wait_for


def test_the_replayer_posts_flows_then_their_labels_and_reports(contract_service: ServiceProcess) -> None:
    frame = flows_frame(240, seed=501)
    replayer = HttpReplayer(contract_service.url, ReplayConfig(label_delay=60, batch_size=80, flow_id_prefix="client"),
                            api_key=CONTRACT_API_KEY, label_batch_size=50)
    assert replayer.run(frame.iloc[:160], show_progress=False) == 160
    assert (replayer.progress.flows, replayer.progress.labels) == (160, 100)  # labels trail by 60 flows
    assert replayer.run(frame.iloc[160:], until=lambda progress: progress.flows >= 200, show_progress=False) == 80
    replayer.flush_labels()
    progress = replayer.progress
    assert (progress.flows, progress.labels, progress.errors) == (240, 240, 0)
    assert progress.model_version == 1 and progress.first_flow_by_version == {1: 0}

    home = Path(contract_service.env["ARF_IDS_HOME"])
    expected = {replayer.flow_id(i) for i in range(240)}
    for table in ("predictions", "labels"):
        wait_for(lambda table=table: logged_flow_ids(home, table, "client-") == expected, what=f"all {table} logged")

    promoted_at = progress.first_served_at_by_version[1] - timedelta(seconds=2)
    report = replayer.service_report(promoted_at=promoted_at)
    assert report["service_requests"] == 240 + 7  # flows, then label posts of 20, 50+30, 50+30, 50+10
    assert report["service_errors"] == 0 and report["reload_count"] == 0
    assert 0 < report["latency_p50_ms"] <= report["latency_p99_ms"]
    assert report["seconds_from_promotion_to_new_version_served"] == 2.0
    assert progress.first_served_at_by_version[1] <= datetime.now(UTC)
