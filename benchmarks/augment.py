"""Per-sample augmentation of a batch: ours (affine_grid + grid_sample) against the alternatives.

    pip install kornia          # optional: only this comparison uses it
    python -m benchmarks.augment [--device cuda]

Prints images per second for each way of giving every image of a batch its own random crop,
rotation, shift, flip and brightness/contrast:
- ours: trainable.augment.augment, one batched call;
- kornia: kornia.augmentation's equivalents in an AugmentationSequential (if installed);
- torchvision v2, per image: a Python loop over the batch (v2 on a batched tensor would draw
  one parameter set for the whole batch, which is not per-sample augmentation).
"""

from __future__ import annotations

import argparse
import time

import torch
from torchvision.transforms import v2

from trainable.augment import augment


def images_per_second(fn, x: torch.Tensor, repeats: int) -> float:
    fn(x)  # warm-up
    if x.is_cuda:
        torch.cuda.synchronize()
    started = time.perf_counter()
    for _ in range(repeats):
        fn(x)
    if x.is_cuda:
        torch.cuda.synchronize()
    return repeats * len(x) / (time.perf_counter() - started)


def candidates(device: torch.device) -> dict:
    generator = torch.Generator(device).manual_seed(0)
    ours = lambda x: augment(x, torch.ones(len(x), device=device), generator)  # noqa: E731
    per_image = v2.Compose(
        [
            v2.RandomResizedCrop(0, scale=(0.6, 1.0), ratio=(0.74, 1.35), antialias=True),
            v2.RandomRotation(15),
            v2.RandomAffine(0, translate=(0.1, 0.1)),
            v2.RandomHorizontalFlip(),
            v2.ColorJitter(brightness=0.3, contrast=0.3),
        ]
    )

    def torchvision_loop(x):
        per_image.transforms[0].size = list(x.shape[-2:])
        return torch.stack([per_image(img) for img in x])

    found = {"ours (affine_grid)": ours, "torchvision v2, per image": torchvision_loop}
    try:
        import kornia.augmentation as K
    except ImportError:
        print("kornia not installed: pip install kornia to include it")
        return found
    pipeline = K.AugmentationSequential(
        K.RandomResizedCrop((28, 28), scale=(0.6, 1.0), ratio=(0.74, 1.35)),
        K.RandomRotation(15.0),
        K.RandomAffine(0.0, translate=(0.1, 0.1)),
        K.RandomHorizontalFlip(),
        K.ColorJitter(brightness=0.3, contrast=0.3),
    ).to(device)

    def kornia_batch(x):
        pipeline[0].size = tuple(x.shape[-2:])
        pipeline[0].flags["size"] = tuple(x.shape[-2:])
        return pipeline(x)

    found["kornia.augmentation"] = kornia_batch
    return found


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=128)
    p.add_argument("--repeats", type=int, default=20)
    args = p.parse_args()
    device = torch.device(args.device)
    print(f"device {device}, batch {args.batch}, torch threads {torch.get_num_threads()}")
    for size in (28, 64, 224):
        x = torch.rand(args.batch, 1, size, size, device=device)
        for name, fn in candidates(device).items():
            repeats = max(2, args.repeats * 28 // size)
            print(f"{size:>4} px  {name:<28} {images_per_second(fn, x, repeats):>12,.0f} img/s")


if __name__ == "__main__":
    main()
