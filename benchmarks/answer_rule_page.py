"""docs/answer-rule.md's blocks, rendered from committed JSON alone.

    python -m benchmarks.answer_rule_page            # rewrite the blocks in docs/answer-rule.md
    python -m benchmarks.answer_rule_page --check    # exit 1 when a block differs from its JSON

Sources: benchmarks/fidelity.json (`python -m benchmarks.fidelity analyse`: answer procedures
over random 12-config searches of configs trained in full), benchmarks/answer_rules.json
(`python -m benchmarks.answer_rules`: rules rescored on nine finished default searches),
benchmarks/efficiency.json (its "answer_sizes", from `python -m benchmarks.efficiency sizes`,
and its rows labelled "ordered", the default search as the product runs it) and
benchmarks/answer_cut.json with benchmarks/answer_cut_pneumoniamnist_iid.json
(`python -m benchmarks.answer_cut`: the mean of probabilities against the mean of logits).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pages import (
    by_setting,
    entry_words,
    figures,
    file_words,
    load_json,
    page_main,
    rows_provenance_words,
    shown,
    spread,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs/answer-rule.md"
FIDELITY = ROOT / "benchmarks/fidelity.json"
RULES = ROOT / "benchmarks/answer_rules.json"
EFFICIENCY = ROOT / "benchmarks/efficiency.json"
ANSWER_CUTS = (
    ROOT / "benchmarks/answer_cut.json",
    ROOT / "benchmarks/answer_cut_pneumoniamnist_iid.json",
)

# fidelity.json: its procedures' keys -> what the page calls them (every one averages the
# members' probabilities, each member at its best epoch unless the key says otherwise)
PROCEDURES = {
    "best trial, best epoch (before)": "the single best trial by validation",
    "top-5 mean, best epochs (the product's answer)": "**mean of the top 5 by validation**",
    "top-3 mean by val ROC-AUC": "mean of the top 3 by validation ROC-AUC",
    "top-5 mean by val ROC-AUC": "mean of the top 5 by validation ROC-AUC",
    "top-8 mean by val ROC-AUC": "mean of the top 8 by validation ROC-AUC",
    "mean of all 12 trials": "mean of all 12 trials",
    "greedy ensemble, ROC-AUC": "greedy ensemble selection on validation ROC-AUC",
    "greedy ensemble, log loss": "greedy ensemble selection on validation log loss",
    "best of trials + references, val bal. acc": "the single best of trials and references",
    "top-5 mean + both references as members": "mean of the top 5 and both references",
}
SINGLE, TOP5 = "best trial, best epoch (before)", "top-5 mean, best epochs (the product's answer)"
# cut rules: the fidelity procedure of the top-5 mean at that cut, and its cuts_under_corruption key
CUTS = {
    "**Youden's J on validation (the product)**": (TOP5, "val"),
    "validation sensitivity = specificity": (
        "top-5 mean, best epochs, thr at val sens = spec", "eer"),
    "midpoint of the class medians, in log-odds": (
        "top-5 mean, best epochs, thr at class-median midpoint", "mid"),
    "0.5": ("top-5 mean, best epochs, thr 0.5", "0.5"),
}  # fmt: skip
# answer_rules.json: rule -> what the page calls it. Its "product" is the answer the nine
# searches built: a plan of five models (good trials, then new seeds of them).
MAIN_RULES = {
    "good full-budget": "**every full-budget model within one image of the best, at most 5 "
    "(the product)**",
    "product": "the plan's five: good trials, then new seeds of them",
    "product + references": "the plan's five and each reference within one image of the best",
    "product, else good full-budget": "the plan's five, or the product's rule where the five "
    "are below a reference on validation",
    "greedy": "greedy ensemble selection (Caruana et al. 2004), ten steps",
    "greedy from product": "greedy ensemble selection started from the plan's five",
    "best full-budget": "the best full-budget model alone",
    "baseline": "plain baseline (one model)",
    "seed_recipe": "seed recipe (one model)",
}
VARIANTS = {
    "good full-budget": "**the product's rule**",
    "good full-budget, twins left out": "a model correlating above 0.99 on validation with a "
    "member passed over (twins left out)",
    "good full-budget, at most 2 new seeds": "the plan's new seeds after the second not trained",
    "good full-budget, references counted toward five": "the references within one image "
    "counted toward the plan's five",
    "good full-budget, members while a wave joins": "the plan's runs in waves of two, none "
    "after a wave that added no member",
}
REFERENCES = ("baseline", "seed_recipe")
SETTING_WORDS = {
    "pneumoniamnist": "PneumoniaMNIST, shifted test",
    "pneumoniamnist_iid": "PneumoniaMNIST, no shift",
    "small500": "500 training images, shifted test",
    "small500_iid": "500 training images, no shift",
}
TARGETS = {
    "test as shipped": "test split",
    "validation halves (no shift)": "validation halves (no shift)",
    "one corruption per site, severity 3": "corrupted sites, severity 3",
    "one corruption per site, severity 5": "corrupted sites, severity 5",
}
PRODUCT_CUT = "logit mixture"  # answer_cut.json's rule that search/stats/adapt.py applies
ORDERED = "ordered"  # efficiency.json's label for the default search as the product runs it


def share_range(shares: list[float]) -> str:
    low, high = min(shares), max(shares)
    return f"{low:.0%}" if f"{low:.0%}" == f"{high:.0%}" else f"{low:.0%} to {high:.0%}"


def fidelity_group(key: str) -> str:
    if key.endswith("pneumoniamnist_iid"):
        return "no shift, 4,708 training images"
    if key.endswith("small500_iid"):
        return "no shift, 500 training images"
    return "shifted test"


def fidelity_groups() -> dict[str, list[dict]]:
    """fidelity.json's setting-draws by kind of test: shifted first, then without shift."""
    found: dict[str, list[dict]] = {}
    for key, draw in load_json(FIDELITY).items():
        found.setdefault(fidelity_group(key), []).append(draw)
    order = ("shifted test", "no shift, 500 training images", "no shift, 4,708 training images")
    return {name: found[name] for name in order}


def fidelity_table() -> str:
    groups = fidelity_groups()
    lines = [
        "| answer (test balanced accuracy at its validation cut) | "
        + " | ".join(f"{g} ({len(d)} setting-draws)" for g, d in groups.items())
        + " |",
        "|---|" + "---:|" * len(groups),
    ]
    for key, label in PROCEDURES.items():
        cells = [spread(d["procedures"][key]["mean"] for d in draws) for draws in groups.values()]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "The mean of the top 5 minus the single best trial, per setting-draw:"]
    for group, draws in groups.items():
        gain = [d["procedures"][TOP5]["mean"] - d["procedures"][SINGLE]["mean"] for d in draws]
        share = {
            k: [d["procedures"][k]["at_least_both_refs"] for d in draws] for k in (TOP5, SINGLE)
        }
        lines.append(
            f"- {group}: {spread(gain, signed=True)}; the share of searches whose answer is at "
            f"least both references on test, per setting-draw: {share_range(share[TOP5])} for "
            f"the mean, {share_range(share[SINGLE])} for the single best."
        )
    return "\n".join(lines)


def cut_scores(procedure: str, corrupted: str) -> dict[str, list[float]]:
    """A cut rule's test balanced accuracy per setting-draw, by kind of test, with the
    corrupted validation copies (severities 3 and 5 of every setting-draw) as one more kind."""
    groups = fidelity_groups()
    found = {g: [d["procedures"][procedure]["mean"] for d in draws] for g, draws in groups.items()}
    found["corrupted validation"] = [
        d["cuts_under_corruption"][corrupted][sev]
        for draws in groups.values()
        for d in draws
        for sev in ("sev3", "sev5")
    ]
    return found


def cuts_table() -> str:
    product = cut_scores(*next(iter(CUTS.values())))
    kinds = list(product)
    lines = [
        "| cut of the top-5 mean | " + " | ".join(f"{k} ({len(product[k])})" for k in kinds) + " |",
        "|---|" + "---:|" * len(kinds),
    ]
    for i, (label, keys) in enumerate(CUTS.items()):
        scores = cut_scores(*keys)
        if i == 0:
            cells = [spread(product[k]) for k in kinds]
        else:
            cells = []
            for k in kinds:
                gap = [a - b for a, b in zip(scores[k], product[k], strict=True)]
                lower = sum(g < 0 for g in gap)
                cells.append(f"{spread(gap, 4, signed=True)}; lower in {lower} of {len(gap)}")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ordered_rows() -> list[dict]:
    rows = [r for r in load_json(EFFICIENCY)["searches"] if r.get("round") == ORDERED]
    return sorted(rows, key=lambda r: (r["setting"], r["seed"]))


def product_table() -> str:
    rows = ordered_rows()
    lines = [
        "| setting | seed | models in the answer | answer val / test | single best search "
        "trial val / test | answer minus best trial, test |",
        "|---|---|---:|---|---|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {SETTING_WORDS[r['setting']]} | {r['seed']} | {r['answer_models']} "
            f"| {r['answer_val']:.4f} / {r['answer_test']:.4f} "
            f"| {r['best_trial_val']:.4f} / {r['best_trial_test']:.4f} "
            f"| {r['answer_test'] - r['best_trial_test']:+.4f} |"
        )
    gains = [r["answer_test"] - r["best_trial_test"] for r in rows]
    lines.append(f"| mean (min to max) | | | | | {spread(gains, digits=4, signed=True)} |")
    words = rows_provenance_words(
        [r["provenance"] for r in rows], [f"seed {r['seed']}" for r in rows]
    )
    lines += ["", figures(f"{shown(EFFICIENCY)}, round `{ORDERED}` ({words})")]
    return "\n".join(lines)


def reached_both(group: list[dict], rule: str) -> int:
    """Searches whose rule's validation score is at least both references'."""
    return sum(g[rule]["val"] >= max(g[ref]["val"] for ref in REFERENCES) - 1e-9 for g in group)


def rule_cell(group: list[dict], rule: str) -> str:
    val = np.mean([g[rule]["val"] for g in group])
    test = [g[rule]["test"] for g in group]
    return (
        f"{val:.4f} / {np.mean(test):.4f} ({min(test):.4f} to {max(test):.4f}); "
        f"{reached_both(group, rule)}/{len(group)}"
    )


def at_or_above_better_reference(groups: dict[str, list[dict]], rule: str) -> int:
    """Settings where the rule's mean test is at least the better reference's mean test."""
    return sum(
        np.mean([g[rule]["test"] for g in group])
        >= max(np.mean([g[ref]["test"] for g in group]) for ref in REFERENCES) - 1e-9
        for group in groups.values()
    )


def rules_head(groups: dict[str, list[dict]], last: str) -> list[str]:
    return [
        "| rule | "
        + " | ".join(f"{SETTING_WORDS[s]}, seeds 0-{len(g) - 1}" for s, g in groups.items())
        + f" | {last} |",
        "|---|" + "---|" * len(groups) + "---:|",
    ]


def rules_table() -> str:
    record = load_json(RULES)
    groups = by_setting(record["searches"])
    lines = rules_head(groups, "settings at or above the better reference on test")
    for rule, label in MAIN_RULES.items():
        cells = [rule_cell(g, rule) for g in groups.values()]
        above = (
            ""
            if rule in REFERENCES
            else f"{at_or_above_better_reference(groups, rule)} of {len(groups)}"
        )
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {above} |")
    lines += ["", figures(file_words(RULES))]
    return "\n".join(lines)


def variants_table() -> str:
    record = load_json(RULES)
    groups = by_setting(record["searches"])
    lines = rules_head(groups, "searches with the product's members")
    for rule, label in VARIANTS.items():
        cells = [rule_cell(g, rule) for g in groups.values()]
        same = sum(
            g[rule]["members"] == g["good full-budget"]["members"]
            for group in groups.values()
            for g in group
        )
        lines.append(
            f"| {label} | " + " | ".join(cells) + f" | {same} of {len(record['searches'])} |"
        )
    return "\n".join(lines)


def sizes_table() -> str:
    sizes = load_json(EFFICIENCY)["answer_sizes"]
    groups = by_setting(sizes)
    lines = [
        "| setting | searches | validation: 5 models minus 3 | test: 5 models minus 3 | member "
        "training a plan of 3 spares (s, one core) |",
        "|---|---:|---:|---:|---:|",
    ]
    everything = []
    for setting, group in groups.items():
        val = [g["5"]["val"] - g["3"]["val"] for g in group]
        test = [g["5"]["test"] - g["3"]["test"] for g in group]
        saved = [g["3"]["member_seconds_saved"] for g in group]
        everything += val
        lines.append(
            f"| {SETTING_WORDS[setting]} | {len(group)} | {spread(val, 4, True)} "
            f"| {spread(test, 4, True)} | {min(saved):.0f} to {max(saved):.0f} |"
        )
    lines.append(f"| all | {len(everything)} | {spread(everything, 4, True)} | | |")
    lines += ["", figures(entry_words(EFFICIENCY, "answer_sizes", sizes))]
    return "\n".join(lines)


def cut_cell(rule: dict) -> str:
    return f"{rule['mean']:+.4f} ({rule['worst']:+.3f}, {rule['lost']:.0%})"


def logits_table() -> str:
    records = [load_json(path) for path in ANSWER_CUTS]
    groups = {
        (g["setting"], g["target"], g["answer"]): g for record in records for g in record["groups"]
    }
    lines = [
        "| setting | target | answers | validation cut: probabilities / logits "
        "| adapted cut minus validation cut, mean of probabilities | the same, mean of logits "
        "| shift test rejected: probabilities / logits |",
        "|---|---|---:|---|---|---|---|",
    ]
    settings = dict.fromkeys(s for s, _, _ in groups)
    for setting in settings:
        for target, words in TARGETS.items():
            p = groups[(setting, target, "mean of probabilities")]
            q = groups[(setting, target, "mean of logits")]
            cells = [
                SETTING_WORDS[setting],
                words,
                str(p["n"]),
                f"{p['val']:.4f} / {q['val']:.4f}",
                cut_cell(p["rules"][PRODUCT_CUT]),
                cut_cell(q["rules"][PRODUCT_CUT]),
                f"{p['adapted']:.0%} / {q['adapted']:.0%}",
            ]
            lines.append("| " + " | ".join(cells) + " |")
    corrupted = [
        (groups[(s, t, "mean of probabilities")], groups[(s, t, "mean of logits")])
        for s in settings
        for t in TARGETS
        if "corrupted" in TARGETS[t]
    ]
    gains = sum(
        q["rules"][PRODUCT_CUT]["mean"] > p["rules"][PRODUCT_CUT]["mean"] for p, q in corrupted
    )
    safer = sum(
        q["rules"][PRODUCT_CUT]["worst"] > p["rules"][PRODUCT_CUT]["worst"] for p, q in corrupted
    )
    lines += [
        "",
        f"On the {len(corrupted)} rows of corrupted sites the adapted cut gains more with the mean "
        f"of logits in {gains} and its worst answer loses less in {safer}.",
    ]
    lines += ["", figures(*map(file_words, ANSWER_CUTS))]
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {
    "fidelity": fidelity_table,
    "cuts": cuts_table,
    "product": product_table,
    "rules": rules_table,
    "variants": variants_table,
    "sizes": sizes_table,
    "logits": logits_table,
}


def main(argv: list[str] | None = None) -> int:
    return page_main(DOC, TABLES, argv)


if __name__ == "__main__":
    sys.exit(main())
