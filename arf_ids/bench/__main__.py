"""``python -m arf_ids.bench --out .arf_ids/reports/bench.json [--quick] [--sections ...]`` (``make bench``)."""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
import tempfile
from pathlib import Path

from arf_ids.bench.config import SECTIONS, BenchSizes
from arf_ids.bench.run import failed_sections, run_bench, write_report


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m arf_ids.bench", description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="the JSON report; the markdown table goes next to it")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the machinery, measures nothing")
    parser.add_argument("--sections", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--work-dir", type=Path, default=None,
                        help="state of the servers (registry, logs); default: a temporary directory, "
                             "removed unless a section failed")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    sizes, name = (BenchSizes.quick(), "quick") if args.quick else (BenchSizes.full(), "full")
    work_dir = (args.work_dir or Path(tempfile.mkdtemp(prefix="arf-ids-bench-"))).resolve()
    report = run_bench(sizes, sections=args.sections, work_dir=work_dir, sizes_name=name)
    json_path, markdown_path = write_report(report, args.out)
    print(markdown_path.read_text(encoding="utf-8"))
    print(f"report: {json_path} and {markdown_path}")
    failed = failed_sections(report)
    if failed:
        sys.exit(f"sections that failed: {', '.join(failed)}; the servers' logs are in {work_dir}")
    if args.work_dir is None:
        shutil.rmtree(work_dir, ignore_errors=True)


if __name__ == "__main__":
    main()
