import numpy as np

from trainable.robustness import PERTURBATIONS, perturb_validation


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
