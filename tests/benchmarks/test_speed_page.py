"""docs/speed.md's blocks hold the figures of benchmarks/speed.json and results.json, and its
GPU block says "not measured" until a GPU's figures are there."""

import json
import re
from pathlib import Path

import numpy as np

from benchmarks import speed_page
from benchmarks.pages import render_blocks

ROOT = Path(__file__).resolve().parents[2]


def block(name: str) -> str:
    text = (ROOT / speed_page.DOC).read_text()
    start = text.index(f"<!-- table {name} -->")
    return text[start : text.index("<!-- end -->", start)]


def rows(text: str) -> list[list[str]]:
    return [[c.strip() for c in line.strip("|").split("|")]
            for line in text.splitlines() if line.startswith("| ")]  # fmt: skip


def test_the_page_matches_its_json(monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    assert speed_page.main(["--check"]) == 0, capsys.readouterr().out


def test_epoch_rows_are_the_json_rounded(monkeypatch):
    monkeypatch.chdir(ROOT)
    speed = json.loads(speed_page.SPEED.read_text())
    shown = {(r[0], r[1]): r for r in rows(block("epoch")) if len(r) == 5}
    for ref in speed["references_10_epochs"]:
        epochs = ref["epoch_s"]
        row = shown[ref["reference"], ref["precision"]]
        assert row[2] == f"{np.mean(epochs):.2f} ({min(epochs):.2f}-{max(epochs):.2f})"
        assert row[3] == f"{ref['train_s'] / len(epochs):.2f}"
    # bf16 against fp32, per reference: the ratio of epoch seconds and the score's change
    ratios = {r[0]: r for r in rows(block("epoch")) if r[1] not in ("fp32", "bf16")}
    for name, (fp32, bf16) in speed_page.pairs(speed["references_10_epochs"]).items():
        diff = bf16["best_val_balanced_accuracy"] - fp32["best_val_balanced_accuracy"]
        assert ratios[name][1] == f"{sum(bf16['epoch_s']) / sum(fp32['epoch_s']):.2f}"
        assert ratios[name][3] == f"{diff:+.4f}"
    p = speed["provenance"]  # the JSON's own flag, said beside it
    assert p["uncommitted_changes"]
    assert (
        f"Figures: `benchmarks/speed.json` (commit {p['commit']} with uncommitted changes, "
        f"{p['date']}, {p['cores']} CPU cores)."
    ) in block("epoch")


def test_throughput_and_memory_are_the_json_rounded(monkeypatch):
    monkeypatch.chdir(ROOT)
    results = json.loads(speed_page.RESULTS.read_text())
    t, m = results["throughput"], results["memory"]
    assert [r[1] for r in rows(block("throughput"))[1:]] == [
        f"{t['ours_img_s']:.0f}",
        f"{t['reference_img_s']:.0f}",
        f"{t['ratio']:.2f}x",
    ]
    assert [r[1] for r in rows(block("memory"))[1:]] == [
        f"{m['driver_peak_mib']:.0f}",
        f"{m['trial_peak_mib']:.0f}",
    ]


def test_a_figure_edited_by_hand_is_caught(monkeypatch):
    monkeypatch.chdir(ROOT)
    text = speed_page.DOC.read_text()
    memory = block("memory")
    edited = text.replace(memory, re.sub(r"\| \d+ \|", "| 1 |", memory, count=1))
    assert edited != text
    assert render_blocks(edited, speed_page.TABLES) == text


def gpu_results(gpu: str | None) -> dict:
    trial = {"size": 28, "model": "small_cnn", "epochs": 10, "trial_s_eager": 4.2,
             "trial_s_compiled": 6.1, "steady_img_s_eager": 30000.0,
             "steady_img_s_compiled": None, "compile_pays": False}  # fmt: skip
    packing = [{"at_once": k, "wall_s": 40.0 / k, "trials_per_hour": 720.0 * k,
                "gpu_utilisation_pct": 20.0 * k} for k in (1, 4)]  # fmt: skip
    provenance = {"date": "d", "commit": "abc1234", "uncommitted_changes": False, "cores": 16,
                  "versions": {"torch": "t"}, "torch_threads": 16, "gpu": gpu}  # fmt: skip
    device = "NVIDIA H100" if gpu else "CPU"
    return {"device": device, "trials": [trial], "packing": packing, "provenance": provenance}


def test_the_gpu_block_renders_a_gpu_run_and_refuses_a_cpu_smoke_run(tmp_path, monkeypatch):
    path = tmp_path / "gpu_results.json"
    monkeypatch.setattr(speed_page, "GPU", path)
    monkeypatch.setattr(speed_page, "BENCHMARKS", tmp_path)
    assert speed_page.gpu_table().startswith("Not measured")
    path.write_text(json.dumps(gpu_results(None)))
    assert "not a GPU measurement" in speed_page.gpu_table()
    path.write_text(json.dumps(gpu_results("NVIDIA H100, 81559 MiB")))
    table = speed_page.gpu_table()
    assert "(commit abc1234, d, 16 CPU cores, GPU NVIDIA H100, 81559 MiB)." in table
    assert "| 28 | small_cnn | 10 | 4.2 | 6.1 | 30000 | - | no |" in table
    assert "| 4 | 10.0 | 2880 | 4.00x | 80% |" in table


def test_an_entry_without_provenance_says_so_with_its_date(monkeypatch):
    monkeypatch.chdir(ROOT)
    memory = json.loads(speed_page.RESULTS.read_text())["memory"]
    assert "provenance" not in memory
    assert (
        f"Figures: `benchmarks/results.json`, `memory` ({memory['date']}; no provenance record"
    ) in block("memory")


def test_the_committed_page_says_not_measured_without_a_gpu_json():
    said = "Not measured" in block("gpu")
    assert said == (not (ROOT / speed_page.GPU).exists())
