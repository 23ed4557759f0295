"""The model card's metrics: numpy forms that score all bootstrap resamples at once."""

import numpy as np
import pytest
from sklearn.metrics import balanced_accuracy_score, recall_score, roc_auc_score

from search.outputs.card import metric_rows
from search.stats.intervals import balanced_accuracy, roc_auc, sensitivity, specificity

pytestmark = pytest.mark.integration  # real PneumoniaMNIST labels


def test_the_numpy_metrics_are_scikit_learns(pneumoniamnist):
    labels = pneumoniamnist.test_y
    # scores with ties, from the images' mean brightness: a weak but real classifier
    scores = np.round(pneumoniamnist.test_x.mean(axis=(1, 2, 3)) / 255, 2)
    said = (scores >= np.median(scores)).astype(np.int64)
    assert roc_auc(labels, scores) == pytest.approx(roc_auc_score(labels, scores))
    assert balanced_accuracy(labels, said) == pytest.approx(balanced_accuracy_score(labels, said))
    assert sensitivity(labels, said) == pytest.approx(recall_score(labels, said))
    assert specificity(labels, said) == pytest.approx(recall_score(labels, said, pos_label=0))
    # all resamples at once: one row per resample
    stacked = np.stack([labels, labels[::-1]]), np.stack([scores, scores[::-1]])
    np.testing.assert_allclose(roc_auc(*stacked), roc_auc_score(labels, scores))

    rows = metric_rows(np.stack([1 - scores, scores], 1), labels, float(np.median(scores)))
    value, low, high = (float(x) for x in rows[0].replace(" - ", "|").split("|")[2:5])
    assert rows[0].startswith("| balanced accuracy |") and low < value < high
