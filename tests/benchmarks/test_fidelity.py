"""The fidelity benchmark on a few one-epoch trainings of the small-data setting."""

import json

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.metrics import balanced_accuracy_score

from benchmarks import fidelity
from benchmarks.fidelity_analysis import PROCEDURES, analyse_setting, load_setting, truth
from trainable.metrics import tune_threshold

pytestmark = pytest.mark.integration  # trainings on real PneumoniaMNIST images


@pytest.fixture(scope="module")
def recorded(tmp_path_factory):
    """Three configs from the full space and the baseline, 2 epochs, 2 folds, recorded."""
    out = tmp_path_factory.mktemp("fidelity")
    configs = fidelity.draw_configs(3, seed=0, epochs=2)
    keep = {name: configs[name] for name in ("c00", "c01", "c02", "baseline")}
    (out / "configs.json").write_text(json.dumps(keep))
    assert fidelity.main(["train", "--setting", "small500", "--folds", "2", "--out", str(out)]) == 0
    return out / "small500"


def test_every_config_and_fold_is_recorded_with_its_probabilities(recorded):
    names = sorted(p.name for p in recorded.glob("*.npz"))
    assert names == [f"{n}_f{k}.npz" for n in ("baseline", "c00", "c01", "c02") for k in (0, 1)]
    with np.load(recorded / "c00_f0.npz") as z:
        assert z["val"].shape == (2, 524) and z["test"].shape == (2, 624)  # per epoch
        for key in ("val_shift3", "val_shift5", "val_robust", "val_flip"):
            assert z[key].shape == (524,) and 0 <= z[key].min() <= z[key].max() <= 1
        assert z["test_flip"].shape == (624,)
    with np.load(recorded / "c00_f1.npz") as z:  # a reshuffled carve: other images, no test
        assert "test" not in z and z["val"].shape == (2, 524)
    provenance = json.loads((recorded / "provenance.json").read_text())
    assert provenance["versions"]["torch"] and provenance["cores"] >= 1 and provenance["commit"]


def test_analysis_scores_configs_and_answers_from_the_recorded_files(recorded):
    setting = load_setting(recorded)
    report = analyse_setting(setting, subsets=4, trials=2)
    for score in ("val bal. acc (tuned thr)", "MedMNIST-C sev. 3", "3-fold reshuffled CV bal. acc"):
        assert score in report["fidelity"]
    # validation balanced accuracy at each config's own tuned cut, from the files by sklearn:
    # its rank correlation with the test truth, and what picking its best config costs
    searched = ("c00", "c01", "c02")
    val = {}
    for name in searched:
        p, y = setting.runs[name].val[-1], setting.val_y
        val[name] = balanced_accuracy_score(y, p >= tune_threshold(p, y))
    test = {name: truth(setting, setting.runs[name]) for name in searched}
    by_val = report["fidelity"]["val bal. acc (tuned thr)"]
    expected = spearmanr([val[n] for n in searched], [test[n] for n in searched]).statistic
    assert by_val["spearman"] == pytest.approx(expected)
    assert by_val["regret"] == pytest.approx(max(test.values()) - test[max(searched, key=val.get)])
    assert report["references_test"]["baseline"] == truth(setting, setting.runs["baseline"])
    assert set(report["procedures"]) == set(PROCEDURES)
    for result in report["procedures"].values():
        assert 0 <= result["mean"] <= 1 and 0 <= result["at_least_both_refs"] <= 1
    # a single pick is never better than the best config of its subset (a mean can be)
    singles = [r for name, r in report["procedures"].items() if name.startswith("best trial")]
    assert len(singles) >= 5 and min(r["regret"] for r in singles) >= -1e-12
