"""docs/imbalance-ratios.md, rendered from benchmarks/ratios.json alone (every figure on the
page is a value of that file, so `python -m benchmarks.ratios_analysis --check` can hold the
page to it)."""

from __future__ import annotations

from benchmarks.pages import figures, source_words
from benchmarks.ratios import FIGURES

NAMES = {
    "answer": "answer",
    "baseline": "baseline (1 model)",
    "seed_recipe": "seed recipe (1 model)",
    "baseline_ensemble": "baseline ensemble",
    "seed_recipe_ensemble": "seed recipe ensemble",
}
TEST_WORDS = {
    "no_shift": "no-shift test (624 images held out of the training split)",
    "test": "shipped test (Kermany's test folder, another acquisition)",
}


def ratio_label(ratio: str, counts: list[int]) -> str:
    return f"1:{counts[1] / counts[0]:.1f}" if ratio == "shipped" else f"1:{ratio}"


def judged(low: float, high: float) -> str:
    return "better" if low > 0 else "worse" if high < 0 else "no clear difference"


def render(results: dict) -> str:
    carves = results["carves"]
    lines = [
        "# The search where imbalance is severe",
        "",
        "PneumoniaMNIST with its normal (minority) training images cut to 1:10, 1:30 and 1:100 "
        "against pneumonia, and as shipped; validation and the shipped test split untouched; "
        "a no-shift test of 624 images held out of the training split before the cut. Each "
        "carve: the `full` space's default search (`python -m search.run --space full`), "
        "seeds as listed; the answer against the two references (one model each, the "
        "search's start points) and against an ensemble of each reference of as many new "
        "seeds as the answer has models, every model at its own validation-tuned cut. "
        "Balanced accuracy; means over seeds.",
        "",
        "Measured by `python -m benchmarks.ratios run`, then `python -m benchmarks.ratios "
        "analyse`, which writes the JSON and renders this whole page from it (`python -m "
        "benchmarks.ratios_analysis --check` holds the page to the JSON). "
        + figures(source_words(f"`{FIGURES}`", results))
        + " That is the analysis's commit: the searches themselves ran on the code before the "
        "answers' new seeds were spaced apart (below), and the JSON does not record theirs.",
        "",
        "## Data and split",
        "",
        "Every choice on this page (each search's trials, its answer, every cut) was made on "
        "validation, which is PneumoniaMNIST's own validation split, untouched by the carves. "
        "The no-shift test (624 training images held out before any carve, stratified, "
        "seed 0) was read by nothing but this page: its figures are the held-out ones. "
        "PneumoniaMNIST's shipped test split comes from another acquisition and was used "
        "elsewhere to choose the product's defaults, so its figures here are development "
        "figures, reported beside the held-out ones, not an estimate of them.",
        "",
    ]
    lines += verdict_summary(carves)
    lines += buda_lines(carves)
    for test, words in TEST_WORDS.items():
        lines += [f"## The answer against the references: {words}", ""]
        lines += [
            "| carve | train normal / pneumonia | seeds | answer models | "
            + " | ".join(NAMES[k] for k in NAMES)
            + " |",
            "|---|---|---|---|" + "---:|" * len(NAMES),
        ]
        for ratio, c in carves.items():
            means = c[test]["mean"]
            lines.append(
                f"| {ratio_label(ratio, c['train_counts'])} | {c['train_counts'][0]} / "
                f"{c['train_counts'][1]} | {len(c['seeds'])} | "
                f"{', '.join(str(n) for n in c['answer_models'])} | "
                + " | ".join(f"{means[k]:.4f}" for k in NAMES)
                + " |"
            )
        lines += [
            "",
            "The answer minus each, mean over seeds, with the 95% interval over test images "
            "and training seeds (a bootstrap over the images, each half widened by Student's "
            "t over the per-seed margins; over images alone in brackets):",
            "",
            "| carve | " + " | ".join(NAMES[k] for k in list(NAMES)[1:]) + " |",
            "|---|" + "---|" * (len(NAMES) - 1),
        ]
        for ratio, c in carves.items():
            cells = []
            for k in list(NAMES)[1:]:
                m = c[test]["answer_minus"][k]
                lo, hi = m["interval_images_and_seeds"]
                ilo, ihi = m["interval_images"]
                cells.append(
                    f"{m['mean']:+.4f} ({lo:+.4f} to {hi:+.4f}: {judged(lo, hi)}) "
                    f"[{ilo:+.4f} to {ihi:+.4f}]"
                )
            lines.append(f"| {ratio_label(ratio, c['train_counts'])} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += seed_spread_lines(carves)
    lines += verdict_cost_lines(carves)
    lines += rules_lines(carves)
    lines += when_to_use(carves)
    return "\n".join(lines) + "\n"


SEVERE = ("10", "30", "100")  # the carves where the search must win
ALONE = ("baseline", "seed_recipe")
ENSEMBLES = ("baseline_ensemble", "seed_recipe_ensemble")


def verdict_summary(carves: dict) -> list[str]:
    """Does the search win where imbalance bites? Per carve, on the no-shift test: the answer
    against the best of the references and their ensembles (as many new seeds as the answer
    has models), and against the plain baseline with the interval over images and seeds."""
    lines = ["## Does the search win where imbalance bites?", ""]
    for ratio, c in carves.items():
        means, margins = c["no_shift"]["mean"], c["no_shift"]["answer_minus"]
        rival = max((*ALONE, *ENSEMBLES), key=lambda k: means[k])
        low, high = margins["baseline"]["interval_images_and_seeds"]
        lines.append(
            f"- {ratio_label(ratio, c['train_counts'])} ({len(c['seeds'])} seed(s)): the answer "
            f"{means['answer']:.4f}, the best of the references and their ensembles "
            f"({NAMES[rival]}) {means[rival]:.4f}: "
            f"{'at least it' if means['answer'] >= means[rival] else 'below it'} "
            f"({means['answer'] - means[rival]:+.4f}); against the plain baseline "
            f"{margins['baseline']['mean']:+.4f} (95% interval over images and seeds "
            f"{low:+.4f} to {high:+.4f}: {judged(low, high)})" + reference_words(c) + "."
        )
    wins = [
        r
        for r in SEVERE
        if r in carves
        and carves[r]["no_shift"]["mean"]["answer"]
        >= max(carves[r]["no_shift"]["mean"][k] for k in (*ALONE, *ENSEMBLES))
    ]
    measured = [r for r in SEVERE if r in carves]
    shared = [
        f"{ratio_label(r, c['train_counts'])} seeds {a} and {b}"
        for r, c in carves.items()
        for a, b in c.get("identical_answers", [])
    ]
    if shared:
        lines += [
            "",
            "The same models were the answer of two searches at "
            + "; ".join(shared)
            + ". These searches ran before new training seeds were spaced apart: search seed s "
            "trained its new seeds with s + 1 and s + 2, so seed 0's second new seed, seed 1's "
            "first and seed 2's start points were one model. Those seeds are not independent "
            "there, and their interval over seeds is too narrow.",
        ]
    own = [r for r in wins if not any(carves[r].get("answer_is_reference_config", []))]
    lines += [
        "",
        f"The answer is at least the best of the references and their ensembles at "
        f"{len(wins)} of the {len(measured)} severe carves measured"
        + (f" ({', '.join('1:' + r for r in wins)})" if wins else "")
        + f"; at {len(own)} of those the answer was a config the search found, not a "
        "reference's, at every seed.",
        "",
    ]
    return lines


def reference_words(c: dict) -> str:
    """Which seeds' answers were a reference's config, not one the search found."""
    named = c.get("answer_is_reference_config", [])
    seeds = [(s, r) for s, r in zip(c["seeds"], named, strict=False) if r]
    if not seeds:
        return ""
    return "; the answer was a reference's config at seed(s) " + ", ".join(
        f"{s} ({r.replace('_', ' ')})" for s, r in seeds
    )


def buda_lines(carves: dict) -> list[str]:
    """Where this data agrees with Buda, Maki & Mazurowski (2018) and where not: read off the
    families trained in full and the references at the cut 0.5."""
    lines = [
        "## Against Buda, Maki and Mazurowski (2018)",
        "",
        "Their systematic study of class imbalance in CNNs (MNIST, CIFAR-10, ImageNet with "
        "induced imbalance, judged by ROC AUC) found oversampling dominant in almost every "
        "scenario (applied until the imbalance is gone), the best undersampling ratio "
        "dependent on the imbalance, and thresholding a correction for the prior where "
        "correct decisions are counted. Here, on the no-shift test (the seed recipe's "
        "family always holds its start point, which ASHA never stops, so it is always "
        "measured in full; most others were not):",
        "",
    ]
    for ratio, c in carves.items():
        families = {
            n: f for n, f in c["families"]["technique"].items() if f["best_no_shift"] is not None
        }
        order = sorted(families, key=lambda n: -families[n]["best_no_shift"])
        best = order[0]
        sd = max(c["seed_spread"][name]["no_shift"]["sd"] for name in ALONE)
        lead = ""
        if len(order) > 1:
            gap = families[best]["best_no_shift"] - families[order[1]]["best_no_shift"]
            lead = f", {gap:.4f} ahead of {order[1]}" + (
                f", within one model's seed spread (sd {sd:.4f})" if gap < sd else ""
            )
        means = c["no_shift"]["mean"]
        lines.append(
            f"- {ratio_label(ratio, c['train_counts'])}: of the families trained in full, "
            f"{best} scored best ({families[best]['best_no_shift']:.4f}{lead}); the plain baseline "
            f"at the cut 0.5 {means['baseline_at_half']:.4f}, at its validation-tuned cut "
            f"{means['baseline']:.4f}; the seed recipe (oversampling and class weights) at "
            f"0.5 {means['seed_recipe_at_half']:.4f}, tuned {means['seed_recipe']:.4f}."
        )
    under = [
        f for c in carves.values() for n, f in c["families"]["technique"].items()
        if n.startswith("undersampling")
    ]  # fmt: skip
    tried, full = sum(f["trials"] for f in under), sum(f["complete"] for f in under)
    lines += [
        "",
        f"Undersampling: {tried} trial(s) over all carves and seeds, {full} trained in full; "
        f"ASHA stopped {tried - full} early, so this data says nothing of undersampling "
        "trained in full. Threshold moving is in every model here (each cut is tuned on "
        "validation): the plain baseline's figures above show what it is worth as the "
        "imbalance grows; the seed recipe's rows show the same for a model whose sampling "
        "and weights already correct for the prior.",
        "",
    ]
    return lines


def seed_spread_lines(carves: dict) -> list[str]:
    """How far one model's test figure moves between training seeds, per reference config."""
    lines = [
        "## How far one model moves between training seeds",
        "",
        "Standard deviation of one model's balanced accuracy over the reference config's "
        "single models of a carve (its start point in each search and every new seed of "
        "its ensemble; models in brackets). A comparison of two models must count it.",
        "",
        "| carve | baseline, no shift | baseline, shipped test | seed recipe, no shift | "
        "seed recipe, shipped test |",
        "|---|---:|---:|---:|---:|",
    ]
    for ratio, c in carves.items():
        cells = [
            f"{c['seed_spread'][name][t]['sd']:.4f} ({c['seed_spread'][name][t]['models']})"
            for name in ("baseline", "seed_recipe")
            for t in ("no_shift", "test")
        ]
        lines.append(f"| {ratio_label(ratio, c['train_counts'])} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def verdict_cost_lines(carves: dict) -> list[str]:
    """What a verdict of answer against reference could say if the job trained one more
    seed of each reference (2 degrees of freedom), and what that seed would cost."""
    from scipy.stats import t

    quantile = float(t.ppf(0.975, 2))
    lines = [
        "## What a verdict can tell, and what another seed would cost",
        "",
        "The product's verdict widens the answer-minus-reference interval by the seed spread "
        "of the configs the job trained more than once (Student's t at its degrees of "
        f"freedom). Were the job to train one more seed of each reference (2 degrees of "
        f"freedom, t = {quantile:.2f}), the seeds alone would add this much on each side for a "
        "3-model answer (t x sd x sqrt(1 + 1/3), sd pooled over the two configs as measured "
        "above), at the cost of one more wave of two full runs (times from the benchmark's "
        "own runs, while other work shared the 2-core machine: upper bounds):",
        "",
        "| carve | half-width, no shift | half-width, shipped test | one full run (s) | "
        "the whole job (s) |",
        "|---|---:|---:|---:|---:|",
    ]
    for ratio, c in carves.items():
        cells = []
        for test in ("no_shift", "test"):
            sds = [c["seed_spread"][name][test]["sd"] for name in ("baseline", "seed_recipe")]
            pooled = (sum(sd**2 for sd in sds) / len(sds)) ** 0.5
            cells.append(f"{quantile * pooled * (1 + 1 / 3) ** 0.5:.3f}")
        run = sum(c["reference_run_s"]) / len(c["reference_run_s"])
        walls = [w for w in c["wall_s"] if w is not None]
        wall = f"{sum(walls) / len(walls):.0f}" if walls else "-"
        lines.append(
            f"| {ratio_label(ratio, c['train_counts'])} | "
            + " | ".join(cells)
            + f" | {run:.0f} | {wall} |"
        )
    return [*lines, ""]


def rules_lines(carves: dict) -> list[str]:
    """Other answers from the models each search trained in full, rescored."""
    lines = [
        "## Other answers from the same models",
        "",
        "Each search's full-budget models (its complete trials, the members' runs, the "
        "references) combined by other rules, each the product's mean of log probabilities "
        "with a temperature and a cut fitted on validation; mean no-shift test balanced "
        "accuracy over the seeds (the shipped test in brackets), models per seed after it. "
        "Rescoring only: a rule that asks for other models than the search trained is not "
        "measured here.",
        "",
        "| rule | "
        + " | ".join(ratio_label(r, c["train_counts"]) for r, c in carves.items())
        + " |",
        "|---|" + "---|" * len(carves),
    ]
    names = list(next(iter(carves.values()))["answer_rules"])
    for name in names:
        cells = []
        for c in carves.values():
            r = c["answer_rules"][name]
            models = ", ".join(str(m) for m in r["models"])
            cells.append(f"{r['no_shift']:.4f} ({r['test']:.4f}) {models}")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return [*lines, ""]


def when_to_use(carves: dict) -> list[str]:
    """Each technique family's best trial (by validation, per seed) on the no-shift test,
    per carve: the table a practitioner reads to choose."""
    lines = [
        "## When to use what",
        "",
        "Each technique family's best full-budget trial of each search (chosen by "
        "validation), its no-shift test balanced accuracy, mean over the seeds that trained "
        "the family in full (in brackets: trials in full of trials tried, over all seeds; "
        "ASHA stopped the others early, which says little of a family). Twelve "
        "trials a search spread over the families, so a family may have been tried once. "
        "The start points are two of them: natural sampling + cross-entropy without "
        "augmentation is the baseline, oversampling + class-weighted cross-entropy with it "
        "the seed recipe; most other families were never trained in full, so read the "
        "table as what the start points showed. On the augmentation axis, 'off' holds only "
        "the baseline's config: it measures the baseline, not augmentation.",
        "",
    ]
    ratios = list(carves)
    header = " | ".join(ratio_label(r, carves[r]["train_counts"]) for r in ratios)
    for axis in ("technique", "augmentation"):
        names = sorted({n for r in ratios for n in carves[r]["families"][axis]})
        lines += [f"| {axis} | {header} |", "|---|" + "---:|" * len(ratios)]
        for name in names:
            cells = []
            for r in ratios:
                f = carves[r]["families"][axis].get(name)
                if not f:
                    cells.append("-")
                    continue
                shown = f"{f['best_no_shift']:.4f} " if f["best_no_shift"] is not None else ""
                cells.append(f"{shown}({f['complete']} of {f['trials']})")
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    lines += [
        "## What would change it",
        "",
        "The search earns its cost at a ratio where its answer's interval over test images and "
        "training seeds lies above the better reference ensemble's on the no-shift test. A "
        "rerun of these carves on the current code, at more seeds (each adds a search and two "
        "ensembles per carve), with undersampling and SMOTE trained in full rather than "
        "stopped at the first rung, would say whether any carve does; a technique family "
        "would be recommended for a ratio once it is ahead of the start points there by more "
        "than the seed spread above, on more than one seed.",
        "",
    ]
    return lines
