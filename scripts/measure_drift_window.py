"""Measure the drift confirmation window K on synthetic Bernoulli error streams.

For each K it reports, over seeded streams:

* delay: samples from a known jump in the error rate to the first confirmed drift
  (median and p90), per jump;
* misses: jumps with no confirmed drift within ``--miss-after`` samples of the jump;
* early: confirmed drifts *before* the jump (false alarms on the stationary prefix);
* wrong way: seeds where a FALLING error rate (the model got better) was confirmed as
  a negative drift after the fall, with the fall's raw ADWIN detections next to them;
* false: confirmed drifts on stationary streams (``--stationary-seeds`` x 50,000
  samples at p=0.05 and at p=0.10), with the raw ADWIN detections next to them.

Then it runs one 1,000,000-sample stationary stream for the recommended K (fewest
misses, then fewest false alarms, then the smallest K) and for the current default.
The same streams are used for every K. The streams and their measurement live in
:mod:`arf_ids.bench.drift`, which ``make bench`` uses too.

Run: ``.venv/bin/python scripts/measure_drift_window.py`` (about 1.5 minutes on 2 idle cores).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from arf_ids.bench.drift import STATIONARY_RATES, JumpOutcome, measure_jump, measure_stationary, times_for
from arf_ids.core.drift import DEFAULT_CONFIRM_WINDOW

JUMPS: tuple[tuple[float, float], ...] = ((0.05, 0.10), (0.10, 0.20), (0.02, 0.10), (0.05, 0.30))
FALLS: tuple[tuple[float, float], ...] = ((0.10, 0.05), (0.20, 0.10), (0.30, 0.05))
STATIONARY_LENGTH = 50_000
LONG_RUN_LENGTH = 1_000_000


def delay_cell(outcome: JumpOutcome) -> str:
    if not outcome.delays:
        return "-/-"
    return f"{np.median(outcome.delays):.0f}/{np.percentile(outcome.delays, 90):.0f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--windows", type=int, nargs="+", default=[10, 30, 50, 100, 200, 300, 500, 1000])
    parser.add_argument("--seeds", type=int, default=50, help="seeded streams per jump")
    parser.add_argument("--stationary-seeds", type=int, default=20)
    parser.add_argument("--jump-at", type=int, default=5000)
    parser.add_argument("--miss-after", type=int, default=5000)
    args = parser.parse_args()

    started = time.perf_counter()
    jump_times = times_for(args.jump_at + args.miss_after)
    stationary_times = times_for(STATIONARY_LENGTH)
    jump_names = [f"{a:.2f}->{b:.2f}" for a, b in JUMPS]
    fall_names = [f"{a:.2f}->{b:.2f}" for a, b in FALLS]
    print(
        f"{args.seeds} seeds per jump (jump at sample {args.jump_at}, miss = none within {args.miss_after}); "
        f"stationary: {args.stationary_seeds} x {STATIONARY_LENGTH:,} samples per rate; delta=0.002"
    )
    header = (
        ["K"]
        + [f"delay med/p90 {name}" for name in jump_names]
        + ["misses (per jump)", "early", f"wrong way {' / '.join(fall_names)} (raw ADWIN)"]
        + [f"false p={rate} (raw ADWIN)" for rate in STATIONARY_RATES]
    )
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    scores: dict[int, tuple[int, int]] = {}
    for window in args.windows:
        common = {"seeds": args.seeds, "jump_at": args.jump_at, "miss_after": args.miss_after, "times": jump_times}
        outcomes = [measure_jump(window, rates, j, **common) for j, rates in enumerate(JUMPS)]
        falls = [measure_jump(window, rates, len(JUMPS) + j, **common) for j, rates in enumerate(FALLS)]
        wrong_way = [args.seeds - fall.misses for fall in falls]
        stationary = [
            measure_stationary(
                window, rate, seeds=args.stationary_seeds, length=STATIONARY_LENGTH, times=stationary_times
            )
            for rate in STATIONARY_RATES
        ]
        misses = [outcome.misses for outcome in outcomes]
        early = sum(outcome.early for outcome in outcomes + falls)
        false_alarms = early + sum(wrong_way) + sum(confirmed for confirmed, _ in stationary)
        scores[window] = (sum(misses), false_alarms)
        row = (
            [str(window)]
            + [delay_cell(outcome) for outcome in outcomes]
            + ["/".join(map(str, misses)) + f" (={sum(misses)})", str(early)]
            + [" / ".join(f"{wrong} ({fall.detections})" for wrong, fall in zip(wrong_way, falls, strict=True))]
            + [f"{confirmed} ({raw})" for confirmed, raw in stationary]
        )
        print("| " + " | ".join(row) + " |", flush=True)

    recommended = min(scores, key=lambda w: (scores[w][0], scores[w][1], w))
    print(f"\nrecommended K = {recommended} (misses {scores[recommended][0]}, false alarms {scores[recommended][1]})")
    long_times = times_for(LONG_RUN_LENGTH)
    for window in sorted({recommended, DEFAULT_CONFIRM_WINDOW}):
        for rate in STATIONARY_RATES:
            t0 = time.perf_counter()
            confirmed, raw = measure_stationary(window, rate, seeds=1, length=LONG_RUN_LENGTH, times=long_times)
            elapsed = time.perf_counter() - t0
            print(
                f"K={window} stationary p={rate}, {LONG_RUN_LENGTH:,} samples: {confirmed} confirmed drifts "
                f"({raw} raw ADWIN detections); detect_drift ran at {LONG_RUN_LENGTH / elapsed:,.0f} samples/s"
            )
    print(f"total {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
