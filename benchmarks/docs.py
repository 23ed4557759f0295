"""Every document rendered from committed JSON, checked against it (or written again).

    python -m benchmarks.docs --check     # exit 1, naming the page, when one differs
    python -m benchmarks.docs             # render them all from their JSON

Each page has one owner that renders it from its JSON alone; this runs them all, so a figure
edited by hand, or a JSON rewritten without its page, is caught in one command (and by
tests/benchmarks/test_docs.py).
"""

from __future__ import annotations

import argparse
import sys

from benchmarks import (
    adapted_cut_page,
    answer_rule_page,
    asha_page,
    calibration_page,
    default_job,
    ratios_analysis,
    speed_page,
)

# page -> its renderer's command line (each takes --check)
RENDERERS = {
    "docs/default-job.md": default_job.main,
    "docs/imbalance-ratios.md": ratios_analysis.main,
    "docs/answer-rule.md": answer_rule_page.main,
    "docs/calibration.md": calibration_page.main,
    "docs/adapted-cut.md": adapted_cut_page.main,
    "docs/asha.md": asha_page.main,
    "docs/speed.md": speed_page.main,
}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="compare, do not write")
    args = p.parse_args(argv)
    failed = [page for page, run in RENDERERS.items() if run(["--check"] if args.check else [])]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
