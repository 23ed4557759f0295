"""A fixed battery of acquisition-like perturbations of the validation images.

    perturbed = perturb_validation(data.val_x)      # built once per trial
    robust = evaluate(predict(perturbed), labels, threshold=clean_threshold)["balanced_accuracy"]

The test images of the shipped sets come from a shifted acquisition (other machines, exposure,
positioning), so a config that only fits the validation images' look can score well on
validation and poorly on test. Balanced accuracy on perturbed copies, at the threshold tuned
on the clean validation images, is the `robust` objective of the search. Every
perturbation is fixed (same parameters, seeded noise), so the score is deterministic, and they
differ from the training augmentation, which never changes gamma, blurs or adds noise.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torchvision.transforms.v2 import InterpolationMode
from torchvision.transforms.v2 import functional as TF


def _noise(x: torch.Tensor) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return x + 0.04 * torch.randn(x.shape, generator=generator)


def _affine(x: torch.Tensor) -> torch.Tensor:
    shift = [round(0.03 * x.shape[-1]), round(-0.03 * x.shape[-2])]
    return TF.affine(
        x,
        angle=5.0,
        translate=shift,
        scale=0.95,
        shear=[0.0, 0.0],
        interpolation=InterpolationMode.BILINEAR,
    )


def _blur(x: torch.Tensor) -> torch.Tensor:
    sigma = x.shape[-1] / 28  # one pixel at 28 px, the same anatomy-relative blur at any size
    kernel = 2 * round(2 * sigma) + 1
    return TF.gaussian_blur(x, [kernel, kernel], [sigma, sigma])


PERTURBATIONS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "contrast_low": lambda x: TF.adjust_contrast(x, 0.6),
    "contrast_high": lambda x: TF.adjust_contrast(x, 1.5),
    "gamma_dark": lambda x: TF.adjust_gamma(x, 1.6),
    "gamma_bright": lambda x: TF.adjust_gamma(x, 0.6),
    "blur": _blur,
    "noise": _noise,
    "affine": _affine,
}


def perturb_validation(images: np.ndarray) -> np.ndarray:
    """Image i gets perturbation i mod 7: one perturbed copy of the set, as cheap to score as
    the clean one. Returns uint8 (N, C, H, W)."""
    x = torch.from_numpy(images).float() / 255
    out = x.clone()
    for k, perturb in enumerate(PERTURBATIONS.values()):
        picked = slice(k, None, len(PERTURBATIONS))
        out[picked] = perturb(x[picked]).clamp(0, 1)
    return (out * 255).round().to(torch.uint8).numpy()
