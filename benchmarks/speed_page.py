"""docs/speed.md's blocks, rendered from benchmarks/speed.json, benchmarks/results.json and, once
it is committed, benchmarks/gpu_results.json.

    python -m benchmarks.speed_page            # rewrite the blocks from the JSON
    python -m benchmarks.speed_page --check    # exit 1 when a block differs from its JSON

docs/default-job.md already renders speed.json's steps, cores, batch sizes and the references'
optimisation seconds (`benchmarks.default_job.speed_table`); this page renders what that table
leaves out: each reference's whole epoch (mean and range over its 10 epochs, and the part that
is not optimisation) and bf16 against fp32 per reference; results.json's "throughput" (the
loop against a PIL + DataLoader pipeline) and "memory" entries; the GPU benchmark, or that no
committed JSON holds one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from benchmarks.pages import entry_words, figures, file_words, load_json, page_main

DOC = Path("docs/speed.md")
SPEED = Path("benchmarks/speed.json")
RESULTS = Path("benchmarks/results.json")
GPU = Path("benchmarks/gpu_results.json")  # what `python -m benchmarks.gpu` writes
BENCHMARKS = Path("benchmarks")


def torch_words(p: dict) -> str:
    """What a timing depends on beyond the provenance sentence: torch and its threads."""
    return f"torch {p['versions']['torch']}, {p['torch_threads']} torch thread(s) in the driver"


def epoch_table() -> str:
    s = load_json(SPEED)
    lines = [
        "| reference, 10 epochs, two at once, one thread each | precision | epoch s, mean "
        "(min-max over the 10) | of which optimisation s, mean | the rest s (validation, "
        "metrics), mean |",
        "|---|---|---:|---:|---:|",
    ]
    for r in s["references_10_epochs"]:
        epochs = r["epoch_s"]
        train = r["train_s"] / len(epochs)
        lines.append(
            f"| {r['reference']} | {r['precision']} | {np.mean(epochs):.2f} "
            f"({min(epochs):.2f}-{max(epochs):.2f}) | {train:.2f} | "
            f"{np.mean(epochs) - train:.2f} |"
        )
    image = s["one_validation_image"]
    lines += [
        "",
        "| reference | bf16 epoch / fp32 epoch | bf16 optimisation / fp32 | best val balanced "
        "accuracy, bf16 - fp32 | in validation images |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, (fp32, bf16) in pairs(s["references_10_epochs"]).items():
        diff = bf16["best_val_balanced_accuracy"] - fp32["best_val_balanced_accuracy"]
        lines.append(
            f"| {name} | {sum(bf16['epoch_s']) / sum(fp32['epoch_s']):.2f} | "
            f"{bf16['train_s'] / fp32['train_s']:.2f} | {diff:+.4f} | {diff / image:+.2f} |"
        )
    p = s["provenance"]
    lines += [
        "",
        f"One validation image of the smaller class is {image:.4f} of balanced accuracy. "
        f"Timed with {torch_words(p)}; the CPU "
        + ("has" if s["cpu_has_bf16"] else "lacks")
        + " bf16 instructions; GPU: "
        + (p["gpu"] or "none")
        + ". "
        + figures(file_words(SPEED)),
    ]
    return "\n".join(lines)


def pairs(references: list[dict]) -> dict[str, tuple[dict, dict]]:
    """Each reference's (fp32, bf16) runs."""
    by = {(r["reference"], r["precision"]): r for r in references}
    names = dict.fromkeys(r["reference"] for r in references)
    return {n: (by[n, "fp32"], by[n, "bf16"]) for n in names if (n, "bf16") in by}


def throughput_table() -> str:
    t = load_json(RESULTS)["throughput"]
    return "\n".join(
        [
            f"| training loop ({t['epochs']} epochs, optimisation steps timed) | images/s |",
            "|---|---:|",
            f"| ours: uint8 data in one tensor, batched per-sample augmentation, channels_last "
            f"| {t['ours_img_s']:.0f} |",
            "| reference: PIL transforms, DataLoader with 2 workers and a WeightedRandomSampler, "
            f"NCHW | {t['reference_img_s']:.0f} |",
            f"| ratio | {t['ratio']:.2f}x |",
            "",
            figures(entry_words(RESULTS, "throughput", t)),
        ]
    )


def memory_table() -> str:
    m = load_json(RESULTS)["memory"]
    return "\n".join(
        [
            "| process of `python -m search.run --space focal --num-samples 2 --epochs 2` "
            "| peak resident memory, MiB |",
            "|---|---:|",
            f"| the driver | {m['driver_peak_mib']:.0f} |",
            f"| the largest trial process | {m['trial_peak_mib']:.0f} |",
            "",
            figures(entry_words(RESULTS, "memory", m)),
        ]
    )


def names_a_gpu(value: object) -> bool:
    """Whether a provenance record anywhere in `value` names a GPU (null without CUDA)."""
    if isinstance(value, dict):
        if "commit" in value and value.get("gpu"):
            return True
        return any(names_a_gpu(v) for v in value.values())
    if isinstance(value, list):
        return any(names_a_gpu(v) for v in value)
    return False


def gpu_records() -> list[str]:
    """The JSON files under benchmarks/ whose provenance names a GPU."""
    return [p.name for p in sorted(BENCHMARKS.glob("*.json")) if names_a_gpu(load_json(p))]


def gpu_table() -> str:
    if not GPU.exists():
        named = gpu_records()
        return "Not measured: benchmarks/gpu_results.json does not exist, and " + (
            f"only {', '.join(named)} name a GPU in their provenance."
            if named
            else "no JSON under benchmarks/ names a GPU in its provenance."
        )
    g = load_json(GPU)
    p = g["provenance"]
    if not p.get("gpu"):
        return (
            f"benchmarks/gpu_results.json was written on {g['device']} (no GPU: a smoke run "
            f"of the code path, {torch_words(p)}): not a GPU measurement. "
            + figures(file_words(GPU))
        )
    lines = [
        f"{g['device']}, {torch_words(p)}. {figures(file_words(GPU))}",
        "",
        "| image size | model | epochs | trial s, eager | trial s, compiled | steady img/s, "
        "eager | steady img/s, compiled | compile pays within the trial |",
        "|---:|---|---:|---:|---:|---:|---:|---|",
    ]
    for t in g["trials"]:
        rates = [
            f"{t[k]:.0f}" if t[k] is not None else "-"
            for k in ("steady_img_s_eager", "steady_img_s_compiled")
        ]
        lines.append(
            f"| {t['size']} | {t['model']} | {t['epochs']} | {t['trial_s_eager']:.1f} | "
            f"{t['trial_s_compiled']:.1f} | {rates[0]} | {rates[1]} | "
            f"{'yes' if t['compile_pays'] else 'no'} |"
        )
    first = g["packing"][0]["trials_per_hour"]
    lines += [
        "",
        "| trials at once on the GPU | wall s | trials per hour | against one at a time "
        "| mean GPU utilisation |",
        "|---:|---:|---:|---:|---:|",
    ]
    for row in g["packing"]:
        use = row["gpu_utilisation_pct"]
        lines.append(
            f"| {row['at_once']} | {row['wall_s']:.1f} | {row['trials_per_hour']:.0f} | "
            f"{row['trials_per_hour'] / first:.2f}x | "
            + (f"{use:.0f}%" if use is not None else "-")
            + " |"
        )
    return "\n".join(lines)


TABLES = {
    "epoch": epoch_table,
    "throughput": throughput_table,
    "memory": memory_table,
    "gpu": gpu_table,
}


def main(argv: list[str] | None = None) -> int:
    return page_main(DOC, TABLES, argv)


if __name__ == "__main__":
    sys.exit(main())
