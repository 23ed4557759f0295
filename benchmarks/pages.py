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
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from pathlib import Path

BLOCK = re.compile(
    r"(<!-- table (\w+) -->)\n(?:(?:(?!<!-- end -->).)*?\n)?(<!-- end -->)", re.DOTALL
)


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
    doc.write_text(fresh)
    print(f"wrote {doc}")
    return 0
