"""The `arf-ids` command against a bootstrapped platform."""

import json

from arf_ids.cli import main


def test_promote_rollback_and_status(bootstrapped, capsys):
    assert main(["bootstrap"]) == 0  # production exists: nothing to do
    assert "already version 1" in capsys.readouterr().out
    bootstrapped.run_job("bootstrap")  # a second registered version
    assert main(["promote", "2"]) == 0
    assert bootstrapped.registry.version_for("production") == 2
    assert main(["rollback"]) == 0
    assert bootstrapped.registry.version_for("production") == 1
    capsys.readouterr()
    assert main(["status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["production_version"] == 1 and status["log"]["predictions"] == 0


def test_unknown_version_is_a_clear_error_and_production_stays(bootstrapped, capsys):
    assert main(["promote", "99"]) == 1
    assert "99" in capsys.readouterr().err
    assert bootstrapped.registry.version_for("production") == 1


def test_replay_logs_predictions_and_labels(bootstrapped, capsys):
    assert main(["replay", "--flows", "600", "--label-delay", "100", "--prefix", "cli"]) == 0
    assert bootstrapped.log_store.counts() == {"predictions": 600, "labels": 600, "labelled": 600}
