"""A document's rendered blocks: text between `<!-- table NAME -->` and `<!-- end -->` is
written by `tables[NAME]()` from committed JSON; the prose around the blocks is written by hand
and quotes no measured figure (a figure belongs in a block, where `--check` holds it).

    from benchmarks.pages import page_main
    TABLES = {"rules": rules_table}           # NAME -> a function returning the block's text
    def main(argv=None): return page_main(Path("docs/answer-rule.md"), TABLES, argv)

    python -m benchmarks.answer_rule_page            # rewrite the blocks from the JSON
    python -m benchmarks.answer_rule_page --check    # exit 1 when a block differs

Written here rather than with a templating library: a page is Markdown a person edits, and
the only thing rendered into it is each block's text, so one regular expression does it.

The pieces every renderer needs are here once, so the pages say the same thing the same way:
`load_json`, `by_setting` (a record's searches grouped by setting), `spread` (mean and range)
and the provenance sentence under a block, `figures(file_words(path), ...)`:

    Figures: `benchmarks/calibration.json` (commit d195759 with uncommitted changes,
    2026-11-29 11:30, 2 CPU cores).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

import numpy as np

from trainable.files import write_text

BLOCK = re.compile(
    r"(<!-- table (\w+) -->)\n(?:(?:(?!<!-- end -->).)*?\n)?(<!-- end -->)", re.DOTALL
)
ROOT = Path(__file__).resolve().parents[1]
NO_PROVENANCE = "no provenance record: commit, versions and machine not recorded"


def load_json(path: Path) -> dict:
    return json.loads(path.read_text())


def by_setting(searches: dict) -> dict[str, list[dict]]:
    """A record's searches, named `<setting>-seed<n>`, grouped by setting in their order."""
    found: dict[str, list[dict]] = {}
    for name, row in searches.items():
        found.setdefault(name.rsplit("-seed", 1)[0], []).append(row)
    return found


def spread(
    values: Iterable[float], digits: int = 3, signed: bool = False, between: str = " to "
) -> str:
    """Mean and range: `0.868 (0.815 to 0.900)`, or with `between="-"` `0.868 (0.815-0.900)`."""
    v = list(values)
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    return f"{f.format(np.mean(v))} ({f.format(min(v))}{between}{f.format(max(v))})"


def provenance_words(p: dict | None) -> str:
    """Where one record's figures were measured, as its provenance (benchmarks/provenance.py)
    says: the commit, "with uncommitted changes" where the tree had them, the date, and the
    CPU cores and GPU where it names them. A record without provenance says so."""
    if not p:
        return NO_PROVENANCE
    changes = " with uncommitted changes" if p.get("uncommitted_changes") else ""
    words = [f"commit {p['commit']}{changes}"]
    if p.get("date"):
        words.append(p["date"])
    if p.get("cores"):
        words.append(f"{p['cores']} CPU cores")
    if p.get("gpu"):
        words.append(f"GPU {p['gpu']}")
    return ", ".join(words)


def rows_provenance_words(provenances: Sequence[dict], labels: Sequence[str] = ()) -> str:
    """Where several rows' figures were measured: their commits, the rows with uncommitted
    changes (named by `labels` where given, else counted) and the CPU cores."""
    commits = sorted({p["commit"] for p in provenances})
    words = [("commits " if len(commits) > 1 else "commit ") + ", ".join(commits)]
    dirty = [i for i, p in enumerate(provenances) if p.get("uncommitted_changes")]
    if dirty:
        which = (
            ", ".join(labels[i] for i in dirty)
            if labels
            else f"{len(dirty)} of {len(provenances)} rows"
        )
        words.append(f"{which} with uncommitted changes")
    cores = sorted({p["cores"] for p in provenances if p.get("cores")})
    if cores:
        words.append(" or ".join(map(str, cores)) + " CPU cores")
    return "; ".join(words)


def source_words(name: str, record: dict) -> str:
    """`name` (a path or an entry, as the page shows it) with its record's provenance; a record
    without one gives its date where it has one."""
    p = record.get("provenance")
    if not p and record.get("date"):
        return f"{name} ({record['date']}; {NO_PROVENANCE})"
    return f"{name} ({provenance_words(p)})"


def shown(path: Path) -> str:
    """A committed file as a page names it: its path from the repository root, in backticks."""
    return f"`{path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}`"


def file_words(path: Path) -> str:
    """A committed JSON, named as the page shows it, with its provenance: for `figures`."""
    return source_words(shown(path), load_json(path))


def entry_words(path: Path, name: str, entry: dict) -> str:
    """One entry of a committed JSON (results.json's "thrift", efficiency.json's
    "answer_sizes") with the entry's own provenance: for `figures`."""
    return source_words(f"{shown(path)}, `{name}`", entry)


def figures(*sources: str) -> str:
    """The sentence under a block saying where its figures come from: `source_words` each."""
    return "Figures: " + "; ".join(sources) + "."


def render_blocks(text: str, tables: dict[str, Callable[[], str]]) -> str:
    """`text` with every block replaced by its rendering; an unknown block name is an error."""

    def block(match: re.Match) -> str:
        name = match.group(2)
        if name not in tables:
            raise KeyError(f"no renderer for block {name!r}; known: {', '.join(tables)}")
        return f"{match.group(1)}\n{tables[name]()}\n{match.group(3)}"

    return BLOCK.sub(block, text)


def page_main(
    doc: Path, tables: dict[str, Callable[[], str]], argv: list[str] | None = None
) -> int:
    """`--check`: exit 1 when `doc`'s blocks differ from their JSON; otherwise rewrite them."""
    p = argparse.ArgumentParser(description=f"{doc}'s tables, rendered from committed JSON")
    p.add_argument("--check", action="store_true", help="compare, do not write")
    args = p.parse_args(argv)
    text = doc.read_text()
    fresh = render_blocks(text, tables)
    missing = set(tables) - {m.group(2) for m in BLOCK.finditer(text)}
    if args.check:
        if fresh != text or missing:
            extra = f" (blocks not on the page: {', '.join(sorted(missing))})" if missing else ""
            print(f"error: {doc} differs from its JSON{extra}; run it without --check")
            return 1
        print(f"{doc} matches its JSON")
        return 0
    write_text(doc, fresh)
    print(f"wrote {doc}")
    return 0
