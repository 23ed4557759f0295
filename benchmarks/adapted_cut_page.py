"""docs/adapted-cut.md's blocks, rendered from the committed JSON they quote.

    python -m benchmarks.adapted_cut_page            # rewrite the blocks in docs/adapted-cut.md
    python -m benchmarks.adapted_cut_page --check    # exit 1 when a block differs from its JSON

Sources, all under benchmarks/: target_cut_fidelity.json (`benchmarks.target_cut --fidelity`:
single recorded models, the references among them), answer_cut.json and
answer_cut_pneumoniamnist_iid.json (`benchmarks.answer_cut`: answers of random searches over
the same recorded models), target_cut.json (`benchmarks.target_cut`: the default search's
answers, seeds 0-2) with efficiency.json (the same searches' references), target_cut_sites.json
(`--site-sizes`), target_cut_corrupt.json (`--corrupt`), shift_level.json
(`benchmarks.shift_level`) and ratios.json (one model's spread between training seeds).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

from benchmarks.pages import (
    by_setting,
    figures,
    file_words,
    load_json,
    page_main,
    rows_provenance_words,
    shown,
    spread,
)

DOC = Path("docs/adapted-cut.md")
BENCH = Path("benchmarks")
FIDELITY = BENCH / "target_cut_fidelity.json"
ANSWERS = (BENCH / "answer_cut.json", BENCH / "answer_cut_pneumoniamnist_iid.json")
SEARCHES = BENCH / "target_cut.json"
EFFICIENCY = BENCH / "efficiency.json"
SITES = BENCH / "target_cut_sites.json"
CORRUPT = BENCH / "target_cut_corrupt.json"
LEVEL = BENCH / "shift_level.json"
RATIOS = BENCH / "ratios.json"

MEASURED_ALPHA = 0.01  # the shift test's level in every JSON here (search.stats.adapt.ALPHA)
PRODUCT = "mean of logits"  # the answer's combination (search.answer.rules.average)
SETTINGS = ("pneumoniamnist", "small500", "pneumoniamnist_iid", "small500_iid")  # fidelity
REFERENCES = {"baseline": "baseline", "seed_recipe": "seed recipe"}
SHIPPED, HELD_OUT = "test as shipped", "held-out test"
HALVES = "validation halves (no shift)"
SPREAD_TEST = {  # setting -> the ratios.json seed spread of the matching kind of test
    "pneumoniamnist": "test",
    "small500": "test",
    "pneumoniamnist_iid": "no_shift",
    "small500_iid": "no_shift",
}
CORRUPTED = ("one corruption per site, severity 3", "one corruption per site, severity 5")
COLUMNS = {  # a pooled column -> (settings, target kind)
    "shipped test, another acquisition": (("pneumoniamnist", "small500"), SHIPPED),
    "held-out training images, no shift": (("pneumoniamnist_iid", "small500_iid"), SHIPPED),
    "corrupted sites, severity 3": (SETTINGS, CORRUPTED[0]),
    "corrupted sites, severity 5": (SETTINGS, CORRUPTED[1]),
    "validation halves, no shift": (SETTINGS, HALVES),
}


def kind(target: str) -> str:
    """A fidelity target's kind, as benchmarks.target_cut.target_kind names it."""
    if target.startswith("val_half"):
        return HALVES
    if target == "test":
        return SHIPPED
    return f"one corruption per site, severity {target[-1]}"


def fidelity_models() -> dict[str, dict[str, dict]]:
    """setting -> model name -> target -> the candidate rules' figures."""
    return {Path(draw).name: models for draw, models in load_json(FIDELITY)["draws"].items()}


def answer_groups() -> dict[tuple[str, str, str], dict]:
    """(setting, combination, target kind) -> benchmarks.answer_cut's group."""
    return {
        (g["setting"], g["answer"], g["target"]): g
        for path in ANSWERS
        for g in load_json(path)["groups"]
    }


def adapted(r: dict) -> float:
    """A single model's balanced accuracy under the product's rule on one target."""
    return r["mixture_detected"]


def flagged(p: float) -> str:
    return "flagged" if p < MEASURED_ALPHA else "not flagged"


def f4(x: float) -> str:
    return f"{x:.4f}"


def s4(x: float) -> str:
    return f"{x:+.4f}"


# --- the adapted answer against adapted references ------------------------------------------


def references_table() -> str:
    """The test split of each setting: the answers (mean over random searches) and the
    recorded references, each at the validation cut and under the product's rule."""
    models, groups = fidelity_models(), answer_groups()
    draws = load_json(ANSWERS[0])["draws"]
    seed_spread = load_json(RATIOS)["carves"]["shipped"]["seed_spread"]
    lines = [
        figures(*map(file_words, (FIDELITY, *ANSWERS))),
        "",
        "| setting | model | val cut | adapted (product's rule) | change | shift test "
        "| oracle cut (test labels) |",
        "|---|---|---:|---:|---|---|---:|",
    ]
    verdicts = []
    compared: list[tuple[str, str, float]] = []
    for setting in SETTINGS:
        g = groups[(setting, PRODUCT, SHIPPED)]
        rule = g["rules"]["logit mixture"]
        answer = g["val"] + rule["mean"]
        lines.append(
            f"| {setting} | **answer** (mean over {g['n']} searches) | {f4(g['val'])} "
            f"| **{f4(answer)}** | {s4(rule['mean'])} (worst {s4(rule['worst'])}) "
            f"| flagged {g['adapted']:.0%} of answers | {f4(g['val'] + g['oracle'])} |"
        )
        found = models[setting]
        said = []
        for name, words in (*REFERENCES.items(), ("default", "trainable's default config")):
            if name not in found:
                lines.append(
                    f"| {setting} | {words} | not among the 12 best by validation: "
                    "not recorded | | | | |"
                )
                if name in REFERENCES:
                    said.append(f"the {words} was not recorded")
                continue
            r = found[name]["test"]
            lines.append(
                f"| {setting} | {words} (one model) | {f4(r['val'])} | {f4(adapted(r))} "
                f"| {s4(adapted(r) - r['val'])} | p {r['p']:.3g}: {flagged(r['p'])} "
                f"| {f4(r['oracle'])} |"
            )
            if name in REFERENCES:
                gap = adapted(r) - answer
                verb = "**wins**" if gap > 0 else "ties" if gap == 0 else "does not win"
                compared.append((setting, words, gap))
                sd = seed_spread[name][SPREAD_TEST[setting]]["sd"]
                within = "within" if abs(gap) <= sd else "beyond"
                said.append(
                    f"the {words} {verb} ({f4(adapted(r))} adapted, {s4(gap)}, {within} its "
                    f"seed sd {f4(sd)}; at the validation cut {s4(r['val'] - g['val'])})"
                )
        rows = [m["test"] for m in found.values()]
        before, after = [r["val"] for r in rows], [adapted(r) for r in rows]
        lines.append(
            f"| {setting} | the {len(rows)} best models by validation (mean; adapted min-max) "
            f"| {f4(np.mean(before))} | {f4(np.mean(after))} ({f4(min(after))}-{f4(max(after))}) "
            f"| {s4(np.mean(after) - np.mean(before))} "
            f"| flagged {np.mean([r['p'] < MEASURED_ALPHA for r in rows]):.0%} of models "
            f"| {f4(np.mean([r['oracle'] for r in rows]))} |"
        )
        verdicts.append(
            f"- {setting}, against the adapted answer's {f4(answer)}: " + "; ".join(said) + "."
        )
    wins = [f"the {words} on {setting}" for setting, words, gap in compared if gap > 0]
    lines += [
        "",
        f"**Adapted, a reference beat the adapted answer in {len(wins)} of {len(compared)} "
        "comparisons" + (": " + ", ".join(wins) if wins else "") + ".**",
        "",
        *verdicts,
        "",
        f"Each reference is one model of one training seed (fidelity draw 0); the answers are "
        f"{draws} random searches over the same recorded models, so an answer may hold a "
        "reference. Its seed sd: how far one model of that reference's config moves between "
        "training seeds at its validation cut, on the shipped test for the shifted settings "
        "and on held-out training images for the others ("
        + "; ".join(
            f"{w}: {f4(seed_spread[k]['test']['sd'])} and {f4(seed_spread[k]['no_shift']['sd'])}, "
            f"{seed_spread[k]['test']['models']} models"
            for k, w in REFERENCES.items()
        )
        + "; "
        + file_words(RATIOS)
        + ", PneumoniaMNIST with its full training split, unadapted).",
    ]
    return "\n".join(lines)


def targets_table() -> str:
    """Every other kind of target, per setting: the answers and the references, each at the
    validation cut and under the product's rule (means; the references' adapted min-max)."""
    models, groups = fidelity_models(), answer_groups()
    lines = [
        "| setting | target | answer (mean over searches): val cut -> adapted "
        + "".join(f"| {w}: val cut -> adapted (min-max over targets) " for w in REFERENCES.values())
        + "|",
        "|---|---|---|" + "---|" * len(REFERENCES),
    ]
    for setting in SETTINGS:
        for target in (*CORRUPTED, HALVES):
            g = groups[(setting, PRODUCT, target)]
            cells = [
                f"{f4(g['val'])} -> {f4(g['val'] + g['rules']['logit mixture']['mean'])} "
                f"(n {g['n']})"
            ]
            for name in REFERENCES:
                if name not in models[setting]:
                    cells.append("not recorded")
                    continue
                rows = [r for t, r in models[setting][name].items() if kind(t) == target]
                after = [adapted(r) for r in rows]
                cells.append(
                    f"{f4(np.mean([r['val'] for r in rows]))} -> {f4(np.mean(after))} "
                    f"({f4(min(after))}-{f4(max(after))}, n {len(rows)})"
                )
            lines.append(f"| {setting} | {target} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --- the default search's answers, seeds 0-2 --------------------------------------------------


def search_rows(name: str, answer_val: float) -> list[dict]:
    """The efficiency.json rows of the search whose answer scored `answer_val` on test at its
    validation cut (the answer target_cut.json rescored); they must agree on the references."""
    setting, seed = name.rsplit("-seed", 1)
    rows = [
        r
        for r in load_json(EFFICIENCY)["searches"]
        if r["setting"] == setting and r["seed"] == int(seed) and r["answer_test"] == answer_val
    ]
    if len({(r["baseline_test"], r["seed_recipe_test"]) for r in rows}) != 1:
        raise ValueError(f"{name}: no single reference figure in {EFFICIENCY}")
    return rows


def search_references(name: str, answer_val: float) -> dict[str, float]:
    """The same search's references on test at their validation cuts."""
    r = search_rows(name, answer_val)[0]
    return {"baseline": r["baseline_test"], "seed_recipe": r["seed_recipe_test"]}


def efficiency_words(searches: dict) -> str:
    """The efficiency.json rows that give the searches' references, with their provenance."""
    rows = [r for n, s in searches.items() for r in search_rows(n, s["test"]["val"])]
    words = rows_provenance_words([r["provenance"] for r in rows])
    return f"{shown(EFFICIENCY)}, the same searches' rows for the references ({words})"


def searches_table() -> str:
    """The default search's answers (seeds 0-2): test at the validation cut, adapted and at the
    oracle's cut; the same searches' references at their validation cut; validation halves."""
    searches = load_json(SEARCHES)["searches"]
    lines: list[str] = [
        figures(file_words(SEARCHES), efficiency_words(searches)),
        "",
        "| setting | seed | answer, val cut | answer, adapted (shift test p) | answer, oracle cut "
        "| baseline, val cut | seed recipe, val cut | validation halves: answer val cut -> "
        "adapted (mean of 5) |",
        "|---|---|---:|---:|---:|---:|---:|---|",
    ]
    settings = dict.fromkeys(name.rsplit("-seed", 1)[0] for name in searches)
    for setting in settings:
        names = [n for n in searches if n.rsplit("-seed", 1)[0] == setting]
        columns: dict[str, list[float]] = {}
        for name in names:
            test, halves = searches[name]["test"], searches[name]["val_halves"]
            refs = search_references(name, test["val"])
            row = {
                "val": test["val"],
                "adapted": test["detected_corrected"],
                "oracle": test["oracle"],
                **refs,
            }
            for k, v in row.items():
                columns.setdefault(k, []).append(v)
            lines.append(
                f"| {setting} | {name.rsplit('-seed', 1)[1]} | {f4(test['val'])} "
                f"| {f4(test['detected_corrected'])} (p {test['corrected_p']:.3g}: "
                f"{flagged(test['corrected_p'])}) "
                f"| {f4(test['oracle'])} | {f4(refs['baseline'])} | {f4(refs['seed_recipe'])} "
                f"| {f4(halves['val'])} -> {f4(halves['detected_corrected'])} |"
            )
        cells = [
            spread(columns[k], 4, between="-")
            for k in ("val", "adapted", "oracle", "baseline", "seed_recipe")
        ]
        lines.append(f"| {setting} | mean (min-max) | " + " | ".join(cells) + " | |")
    return "\n".join(lines)


# --- site size, corrupted sites -------------------------------------------------------------


def sites_table() -> str:
    """Per setting and site size: the share of random sites adapted and balanced accuracy at
    the validation cut, the product's cut and the oracle's (seeds pooled; per-seed min-max)."""
    record = load_json(SITES)
    lines = [
        figures(file_words(SITES)),
        "",
        "| setting | site size (images) | adapted: mean (min-max over seeds) | val cut "
        "| product | change: mean (min-max over seeds) | oracle cut |",
        "|---|---:|---|---:|---:|---|---:|",
    ]
    for setting, seeds in by_setting(record["searches"]).items():
        for size in seeds[0]:
            rows = [s[size] for s in seeds]
            share = [r["adapted"] for r in rows]
            gain = [r["detected_corrected"] - r["val"] for r in rows]
            lines.append(
                f"| {setting} | {size} | {np.mean(share):.0%} ({min(share):.0%}-{max(share):.0%}) "
                f"| {f4(np.mean([r['val'] for r in rows]))} "
                f"| {f4(np.mean([r['detected_corrected'] for r in rows]))} "
                f"| {s4(np.mean(gain))} ({s4(min(gain))} to {s4(max(gain))}) "
                f"| {f4(np.mean([r['oracle'] for r in rows]))} |"
            )
    return "\n".join(lines + ["", f"{record['draws']} random sites per search and size."])


def corrupt_table() -> str:
    """Per setting and severity, (search, family) pairs pooled: how many the product adapted,
    balanced accuracy at the validation cut, the product's and the oracle's, the per-seed
    spread of the change, and the adapted pairs the moved cut made worse."""
    record = load_json(CORRUPT)
    lines = [
        figures(file_words(CORRUPT)),
        "",
        "| setting | severity | pairs adapted | val cut | product | change: mean (min-max "
        "over seeds) | adapted pairs made worse (worst) | oracle cut |",
        "|---|---:|---|---:|---:|---|---|---:|",
    ]
    for setting, seeds in by_setting(record["searches"]).items():
        for severity in seeds[0]:
            per_seed = [list(s[severity].values()) for s in seeds]
            pairs = [r for rows in per_seed for r in rows]
            moved = [r for r in pairs if r["corrected_p"] < MEASURED_ALPHA]
            worse = [r["detected_corrected"] - r["val"] for r in moved]
            worse = [d for d in worse if d < 0]
            gain = [
                np.mean([r["detected_corrected"] - r["val"] for r in rows]) for rows in per_seed
            ]
            lines.append(
                f"| {setting} | {severity} | {len(moved)} of {len(pairs)} "
                f"| {f4(np.mean([r['val'] for r in pairs]))} "
                f"| {f4(np.mean([r['detected_corrected'] for r in pairs]))} "
                f"| {s4(np.mean(gain))} ({s4(min(gain))} to {s4(max(gain))}) "
                f"| {len(worse)}" + (f" ({s4(min(worse))})" if worse else "") + " "
                f"| {f4(np.mean([r['oracle'] for r in pairs]))} |"
            )
    families = ", ".join(f.replace("_", " ") for f in record["families"])
    return "\n".join(lines + ["", f"Families, one per site: {families}."])


# --- the rule against other cuts --------------------------------------------------------------


def pooled_cell(deltas: list[float], lost: list[bool]) -> str:
    if not deltas:
        return "-"
    return f"{s4(np.mean(deltas))} ({min(deltas):+.3f}, {np.mean(lost):.0%})"


def rules_table() -> str:
    """Single recorded models: each candidate rule's change over the validation cut, pooled
    over the settings of each column (mean, worst, share losing more than one image)."""
    models = fidelity_models()

    def cut(rule: str, alpha: float | None) -> Callable[[dict], float]:
        if alpha is None:
            return lambda r: r[rule]
        return lambda r: r["mixture"] if r["p"] < alpha else r["val"]

    rules = {
        "mixture cut always": cut("mixture", None),
        "**mixture cut where p < 0.01 (the product)**": cut("mixture", 0.01),
        "mixture cut where p < 0.05": cut("mixture", 0.05),
        "mixture cut where p < 0.1": cut("mixture", 0.1),
        "matched cut always": cut("matched", None),
        "matched cut where p < 0.01": cut("matched_detected", None),
        "estimated-prevalence quantile": cut("quantile", None),
        "oracle cut (reads the labels)": cut("oracle", None),
    }
    lines = [
        figures(file_words(FIDELITY)),
        "",
        "| rule (single models) | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for name, score in rules.items():
        cells = []
        for settings, target in COLUMNS.values():
            rows = [
                r
                for s in settings
                for targets in models[s].values()
                for t, r in targets.items()
                if kind(t) == target
            ]
            deltas = [score(r) - r["val"] for r in rows]
            lost = [d < -r["one_image"] - 1e-9 for d, r in zip(deltas, rows, strict=True)]
            cells.append(pooled_cell(deltas, lost))
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    counts = []
    for column, (settings, target) in COLUMNS.items():
        n = sum(1 for s in settings for m in models[s].values() for t in m if kind(t) == target)
        counts.append(f"{column} {n}")
    return "\n".join(lines + ["", "Targets (models x targets): " + "; ".join(counts) + "."])


def answers_table() -> str:
    """Answers of random searches: each cut rule where the shift test rejects, with the
    members combined both ways, pooled over the settings of each column."""
    groups = answer_groups()
    rows = [
        (PRODUCT, "logit mixture", "**mean of logits, logit mixture (the product)**"),
        (PRODUCT, "probability mixture", "mean of logits, mixture of probabilities"),
        (PRODUCT, "Otsu", "mean of logits, Otsu's threshold"),
        (PRODUCT, "anchored mixture", "mean of logits, mixture started at validation's classes"),
        ("mean of probabilities", "logit mixture", "mean of probabilities, logit mixture"),
    ]
    lines = [
        figures(*map(file_words, ANSWERS)),
        "",
        "| answer, cut where the test rejects | " + " | ".join(COLUMNS) + " |",
        "|---|" + "---|" * len(COLUMNS),
    ]
    for combination, rule, label in rows:
        cells = []
        for settings, target in COLUMNS.values():
            found = [groups[(s, combination, target)] for s in settings]
            n = sum(g["n"] for g in found)
            mean = sum(g["rules"][rule]["mean"] * g["n"] for g in found) / n
            lost = sum(g["rules"][rule]["lost"] * g["n"] for g in found) / n
            worst = min(g["rules"][rule]["worst"] for g in found)
            cells.append(f"{s4(mean)} ({worst:+.3f}, {lost:.0%})")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    flagged = []
    for column, (settings, target) in COLUMNS.items():
        found = [groups[(s, PRODUCT, target)] for s in settings]
        n = sum(g["n"] for g in found)
        flagged.append(f"{column} {sum(g['adapted'] * g['n'] for g in found) / n:.0%} of {n}")
    return "\n".join(lines + ["", "The test flagged (mean of logits): " + "; ".join(flagged) + "."])


# --- the shift test's level and power ---------------------------------------------------------


def level_table() -> str:
    """shift_level.json: the share of targets flagged without shift, and on the shipped test."""
    record = load_json(LEVEL)
    words = {
        "validation_halves": "one half of validation against the other (no shift)",
        "no_shift": "images held out of the training split, whole, halves and 250-image sites "
        "(no acquisition shift; may share patients with training)",
        "shipped_test": "PneumoniaMNIST's shipped test (another acquisition): the power",
    }
    lines = [
        figures(file_words(LEVEL)),
        "",
        f"| target (test at p < {record['level']}) | targets | flagged | share | 95% interval "
        "(Clopper-Pearson) |",
        "|---|---:|---:|---:|---|",
    ]
    for key, label in words.items():
        r = record[key]
        low, high = r["interval"]
        lines.append(
            f"| {label} | {r['targets']} | {r['flagged']} | {r['rate']:.1%} "
            f"| {low:.1%}-{high:.1%} |"
        )
    lines += [
        "",
        f"Each target scored by one of {record['models']} models (every full-budget model and "
        "answer of the ratio benchmark's searches); targets sharing a model or images are not "
        "independent, so the intervals are optimistic.",
    ]
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {
    "references": references_table,
    "targets": targets_table,
    "searches": searches_table,
    "sites": sites_table,
    "corrupt": corrupt_table,
    "rules": rules_table,
    "answers": answers_table,
    "level": level_table,
}


def main(argv: list[str] | None = None) -> int:
    return page_main(DOC, TABLES, argv)


if __name__ == "__main__":
    sys.exit(main())
