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

import warnings
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


# --- MedMNIST-C: the corruption families and severities published for chest X-rays ------------
# Di Salvo et al., "MedMNIST-C" (2024), registry entry 'pneumoniamnist': 13 families, 5
# severities each. Re-written on tensors (their code needs ImageMagick through Wand); blur's
# kernel sizes are read as theirs at 224 px and scaled to the image size, so at 28 px blur is
# nearly the identity (sigma 0.3 px; mean change under 0.01 grey levels). The fidelity
# benchmark ran with this battery and rejected it as an objective (benchmarks/fidelity.json).


def _pixelate(x: torch.Tensor, keep: float) -> torch.Tensor:
    size = x.shape[-1]
    small = TF.resize(x, [max(1, round(size * keep))] * 2, antialias=True)
    return TF.resize(small, [size, size], interpolation=InterpolationMode.NEAREST)


def _jpeg(x: torch.Tensor, quality: float) -> torch.Tensor:
    as_bytes = (x * 255).round().to(torch.uint8)
    with warnings.catch_warnings():
        # torchvision 0.29 deprecates its JPEG codec in favour of TorchCodec; TF.jpeg still
        # works, and warns once per image. Move when torchvision drops it.
        warnings.simplefilter("ignore", DeprecationWarning)
        return TF.jpeg(as_bytes, int(quality)).float() / 255


def _seeded(x: torch.Tensor) -> torch.Generator:
    return torch.Generator().manual_seed(int(x.shape[0]))


def _gaussian(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return x + sigma * torch.randn(x.shape, generator=_seeded(x))


def _speckle(x: torch.Tensor, sigma: float) -> torch.Tensor:
    return x + x * sigma * torch.randn(x.shape, generator=_seeded(x))


def _impulse(x: torch.Tensor, amount: float) -> torch.Tensor:
    r = torch.rand(x.shape, generator=_seeded(x))
    return torch.where(r < amount / 2, 0.0, torch.where(r > 1 - amount / 2, 1.0, x))


def _shot(x: torch.Tensor, photons: float) -> torch.Tensor:
    return torch.poisson(x * photons, generator=_seeded(x)) / photons


def _gaussian_blur(x: torch.Tensor, kernel_at_224: float) -> torch.Tensor:
    sigma = max(0.3, kernel_at_224 / 6 * x.shape[-1] / 224)
    kernel = 2 * round(2 * sigma) + 1
    return TF.gaussian_blur(x, [kernel, kernel], [sigma, sigma])


MEDMNIST_C: dict[str, tuple[Callable[[torch.Tensor, float], torch.Tensor], list[float]]] = {
    "pixelate": (_pixelate, [0.8, 0.7, 0.6, 0.5, 0.4]),
    "jpeg_compression": (_jpeg, [50, 30, 15, 10, 7]),
    "gaussian_noise": (_gaussian, [0.04, 0.05, 0.06, 0.07, 0.08]),
    "speckle_noise": (_speckle, [0.05, 0.07, 0.10, 0.15, 0.20]),
    "impulse_noise": (_impulse, [0.005, 0.01, 0.013, 0.017, 0.02]),
    "shot_noise": (_shot, [300, 200, 150, 100, 80]),
    "gaussian_blur": (_gaussian_blur, [3, 5, 7, 9, 11]),
    "brightness_up": (TF.adjust_brightness, [1.1, 1.2, 1.3, 1.4, 1.5]),
    "brightness_down": (TF.adjust_brightness, [0.9, 0.8, 0.7, 0.6, 0.5]),
    "contrast_up": (TF.adjust_contrast, [1.1, 1.2, 1.3, 1.4, 1.6]),
    "contrast_down": (TF.adjust_contrast, [0.9, 0.8, 0.7, 0.6, 0.4]),
    "gamma_corr_up": (TF.adjust_gamma, [1.1, 1.2, 1.3, 1.4, 1.6]),
    "gamma_corr_down": (TF.adjust_gamma, [0.9, 0.8, 0.7, 0.6, 0.4]),
}


def corrupt_validation(images: np.ndarray, severity: int) -> np.ndarray:
    """MedMNIST-C at `severity` (1-5): image i gets family i mod 13, one copy of the set.
    Deterministic (seeded noise). Returns uint8 (N, C, H, W)."""
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1..5; got {severity}")
    x = torch.from_numpy(images).float() / 255
    out = x.clone()
    for k, (corrupt, levels) in enumerate(MEDMNIST_C.values()):
        picked = slice(k, None, len(MEDMNIST_C))
        if len(x[picked]):
            out[picked] = corrupt(x[picked], levels[severity - 1]).clamp(0, 1)
    return (out * 255).round().to(torch.uint8).numpy()


# What one site could do differently to all its images: exposure, contrast, focus, gamma,
# compression, noise.
SITE_CORRUPTIONS = ("brightness_down", "contrast_down", "gaussian_blur", "gamma_corr_up",
                    "jpeg_compression", "gaussian_noise")  # fmt: skip


def corrupt_site(images: np.ndarray, family: str, severity: int) -> np.ndarray:
    """Every image given the same MedMNIST-C `family` at `severity` (1-5), as one scanner or
    protocol would. Deterministic (seeded noise). Returns uint8 (N, C, H, W)."""
    if not 1 <= severity <= 5:
        raise ValueError(f"severity must be 1..5; got {severity}")
    corrupt, levels = MEDMNIST_C[family]
    x = torch.from_numpy(images).float() / 255
    return (corrupt(x, levels[severity - 1]).clamp(0, 1) * 255).round().to(torch.uint8).numpy()
