"""Per-sample random augmentation of a whole batch, on the batch's device.

    x = augment(x, strength, generator)   # x float (B, C, H, W) in [0, 1]; strength (B,)
    per_class = class_strengths(train_labels, 2, aug_strength, minority_aug)   # strength[class]

One `strength` in [0, 1] per image scales everything together: 0 is the identity,
1 is a random resized crop down to 60% of the area with aspect jitter of about 1.35x, rotation
up to 15 degrees, translation up to 10% of the side, a horizontal flip with probability 0.5,
and brightness and contrast each within +-30%. Per-image strength is how minority-class images
get a stronger dose (`minority_aug`).

Why hand-written: torchvision.transforms.v2 applied to a batched tensor draws one parameter
set for the whole batch, and a per-image PIL pipeline is what makes data loading the
bottleneck. All geometry folds into one 2x3 affine matrix per image, applied with
`affine_grid` + `grid_sample` in a single call; intensity is two multiply-adds. That is
a dozen lines with no extra dependency (kornia.augmentation would do the same).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

MAX_ROTATION_DEG = 15.0
MAX_TRANSLATE = 0.10  # fraction of the image side
MIN_CROP_AREA = 0.60  # random resized crop keeps at least this share of the area
MAX_LOG_ASPECT = 0.30  # crop aspect ratio within exp(+-0.3) ~ 0.74..1.35
FLIP_PROB = 0.5
MAX_INTENSITY = 0.30  # brightness and contrast factors within 1 +- this


def augment(x: torch.Tensor, strength: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Augment each image of `x` with its own random parameters, scaled by its strength."""
    if not bool((strength > 0).any()):
        return x
    b = x.shape[0]
    s = strength.to(x.device, x.dtype)

    def uniform(low: float, high: float) -> torch.Tensor:  # per-image U(low, high)
        r = torch.rand(b, generator=generator, device=x.device, dtype=x.dtype)
        return low + (high - low) * r

    # Geometry: the inverse map from output to input coordinates, as affine_grid expects.
    angle = uniform(-1, 1) * s * math.radians(MAX_ROTATION_DEG)
    area = 1 - uniform(0, 1) * s * (1 - MIN_CROP_AREA)
    log_aspect = uniform(-1, 1) * s * MAX_LOG_ASPECT
    scale_x = torch.sqrt(area * torch.exp(log_aspect))  # crop width as a share of the image
    scale_y = torch.sqrt(area * torch.exp(-log_aspect))
    flip = torch.where(uniform(0, 1) < FLIP_PROB * s, -1.0, 1.0).to(x.dtype)
    shift_x = uniform(-1, 1) * s * MAX_TRANSLATE * 2  # affine_grid spans [-1, 1]
    shift_y = uniform(-1, 1) * s * MAX_TRANSLATE * 2
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos * scale_x * flip, -sin * scale_y, shift_x], dim=1),
            torch.stack([sin * scale_x * flip, cos * scale_y, shift_y], dim=1),
        ],
        dim=1,
    )
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    out = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)

    # Intensity: brightness scales, contrast stretches around each image's mean.
    brightness = 1 + uniform(-1, 1) * s * MAX_INTENSITY
    contrast = 1 + uniform(-1, 1) * s * MAX_INTENSITY
    mean = out.mean(dim=(1, 2, 3), keepdim=True)
    out = (out - mean) * contrast.view(b, 1, 1, 1) + mean
    out = out * brightness.view(b, 1, 1, 1)
    # Images with strength 0 stay bit-exact: grid_sample's identity is only exact to rounding.
    out = torch.where((s > 0).view(b, 1, 1, 1), out, x)
    return out.clamp(0, 1)


def class_strengths(
    labels: np.ndarray, num_classes: int, strength: float, minority_boost: float
) -> np.ndarray:
    """Augmentation strength per class: `strength` for the largest class, and for every
    smaller (minority) class `strength + minority_boost`, capped at 1."""
    counts = np.bincount(labels, minlength=num_classes)
    per_class = np.full(len(counts), strength, dtype=np.float32)
    per_class[counts < counts.max()] = min(1.0, strength + minority_boost)
    return per_class
