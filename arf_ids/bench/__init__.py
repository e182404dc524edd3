"""``make bench``: the platform's speed, memory and drift figures, each beside its baseline from the same run.

Sections (:data:`~arf_ids.bench.config.SECTIONS`): in-process batch scoring and
single-flow latency (:mod:`.scoring`), learning and the retrain lineage
(:mod:`.learning`), the drift detector (:mod:`.drift`), and over HTTP the running
service, its no-op route, the seed-style app and the service's memory (:mod:`.httpbench`).
Every section measures the same model on the same flows (:mod:`.fixtures`); the
report (:mod:`.report`) turns the figures into the issue's targets; :mod:`.run` runs the
sections (this package imports nothing, so the load client's process starts light)::

    python -m arf_ids.bench --out .arf_ids/reports/bench.json            # the full run (+ bench.md)
    python -m arf_ids.bench --out /tmp/bench.json --quick --sections scoring drift
"""
