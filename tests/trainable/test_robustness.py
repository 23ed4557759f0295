import numpy as np
import pytest

from trainable.robustness import (
    MEDMNIST_C,
    PERTURBATIONS,
    corrupt_validation,
    perturb_validation,
)

pytestmark = pytest.mark.integration  # real PneumoniaMNIST images


def test_every_image_is_perturbed_deterministically(pneumoniamnist):
    x = pneumoniamnist.val_x
    a, b = perturb_validation(x), perturb_validation(x)
    assert np.array_equal(a, b) and a.shape == x.shape and a.dtype == np.uint8
    changed = (a.astype(int) - x).reshape(len(x), -1)
    assert (np.abs(changed).mean(1) > 0.5).mean() > 0.99  # every image visibly altered


def test_each_perturbation_takes_its_share_and_alters_images_differently(pneumoniamnist):
    x = pneumoniamnist.val_x
    a = perturb_validation(x).astype(int)
    k = len(PERTURBATIONS)
    mean_shift = [(a[i::k] - x[i::k]).mean() for i in range(k)]
    names = list(PERTURBATIONS)
    # gamma above 1 darkens, below 1 brightens: the signs say the right one was applied
    assert mean_shift[names.index("gamma_dark")] < -5
    assert mean_shift[names.index("gamma_bright")] > 5


def test_medmnist_c_battery_is_deterministic_and_worse_at_higher_severity(pneumoniamnist):
    x = pneumoniamnist.val_x
    mild, mild_again, severe = (corrupt_validation(x, s) for s in (1, 1, 5))
    assert np.array_equal(mild, mild_again) and mild.shape == x.shape and mild.dtype == np.uint8
    k = len(MEDMNIST_C)
    names = list(MEDMNIST_C)
    change = {
        name: [np.abs(c[i::k].astype(int) - x[i::k]).mean() for c in (mild, severe)]
        for i, name in enumerate(names)
    }
    # Blur's kernels are MedMNIST-C's at 224 px, scaled down: at 28 px they stay below a
    # third of a pixel and barely change an image (robustness.py says so).
    blur = change.pop("gaussian_blur")
    assert blur[1] < 0.1
    assert all(0 < m < s for m, s in change.values()), change  # every other family, worse at 5
    shift = [(severe[i::k].astype(int) - x[i::k]).mean() for i in range(k)]
    assert shift[names.index("brightness_down")] < -10 < 10 < shift[names.index("brightness_up")]


def test_medmnist_c_severity_outside_1_to_5_is_refused(pneumoniamnist):
    with pytest.raises(ValueError, match="severity"):
        corrupt_validation(pneumoniamnist.val_x[:13], 6)
