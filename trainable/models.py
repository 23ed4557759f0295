"""The `model` knob: a small CNN for 28-64 px, or torchvision's ResNet-18; and where it runs.

    model = make_model("small_cnn", in_channels=1, num_classes=2, image_size=28)
    device = pick_device("auto")      # cuda when there is one
    peak_memory_mb(device)            # what the process and the trial have used at most

`MODELS` maps each name to its builder, keyed like `trainable.config.MODEL_NAMES`.
"""

from __future__ import annotations

import pickle
import resource
import sys
from pathlib import Path

import torch
from torch import nn
from torchvision.models import resnet18

from trainable.config import MODEL_NAMES, same_names
from trainable.errors import UserError


def small_cnn(in_channels: int, num_classes: int) -> nn.Module:
    """Three conv stages and global average pooling: any input size, ~0.3 M parameters."""

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [
            nn.Conv2d(cin, cout, 3, padding=1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        ]

    return nn.Sequential(
        *block(in_channels, 32),
        *block(32, 32),
        nn.MaxPool2d(2),
        *block(32, 64),
        *block(64, 64),
        nn.MaxPool2d(2),
        *block(64, 128),
        *block(128, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(128, num_classes),
    )


def resnet18_for(
    in_channels: int, num_classes: int, image_size: int, weights: str | None = None
) -> nn.Module:
    """ResNet-18 with its stem fitted to the input; optional weights from a local file.

    Below 96 px the ImageNet stem (7x7 stride 2 + max-pool) would shrink 28 px to 7 px before
    the first block, so small inputs get a 3x3 stride-1 stem instead, as for CIFAR.
    """
    model = resnet18(num_classes=num_classes)
    if image_size < 96:
        model.conv1 = nn.Conv2d(in_channels, 64, 3, stride=1, padding=1, bias=False)
        model.maxpool = nn.Identity()
    elif in_channels != 3:
        model.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
    if weights:
        load_pretrained(model, Path(weights))
    return model


def load_pretrained(model: nn.Module, path: Path) -> None:
    """Copy every tensor whose name and shape fit; a 3-channel stem is summed to 1 channel."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)  # no code from the file
    except (OSError, RuntimeError, EOFError, pickle.UnpicklingError) as e:
        raise UserError(f"cannot read weights {path} ({e}); give a torch state_dict file") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(
            f"{path} holds a {type(state).__name__}, not a state_dict of tensors; save the "
            "model's weights with torch.save(model.state_dict(), path)"
        )
    own = model.state_dict()
    conv = state.get("conv1.weight")
    if conv is not None and conv.shape[1] == 3 and own["conv1.weight"].shape[1] == 1:
        state["conv1.weight"] = conv.sum(dim=1, keepdim=True)
    fitting = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    if not fitting:
        raise UserError(f"no tensor in {path} fits resnet18; is it a resnet18 state_dict?")
    model.load_state_dict(fitting, strict=False)


def small_cnn_for(
    in_channels: int, num_classes: int, image_size: int, weights: str | None = None
) -> nn.Module:
    if weights:
        raise UserError("weights= is only for model 'resnet18'")
    return small_cnn(in_channels, num_classes)


MODELS = {"small_cnn": small_cnn_for, "resnet18": resnet18_for}
same_names("model", MODELS, MODEL_NAMES)


def make_model(
    name: str, in_channels: int, num_classes: int, image_size: int, weights: str | None = None
) -> nn.Module:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return MODELS[name](in_channels, num_classes, image_size, weights)


def pick_device(requested: str) -> torch.device:
    """'auto' is CUDA when there is a GPU, else the CPU; 'cuda' without a GPU is refused."""
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "device 'cuda' was asked for but CUDA is not available here; use device 'auto' or 'cpu'"
        )
    if requested == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda")


def cpu_has_bf16() -> bool:
    """Whether this CPU does bfloat16 arithmetic in hardware (AVX512-BF16 or AMX), read from
    Linux's /proc/cpuinfo; elsewhere False. Without it oneDNN emulates bfloat16 slower than
    float32."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(flag in flags for flag in (" avx512_bf16", " amx_bf16"))


def autocast_dtype(device: torch.device, precision: str) -> torch.dtype | None:
    """The dtype the optimisation steps autocast to, or None for float32. bfloat16 nearly
    halves a step of the small CNN on a 2-core AVX512-BF16 CPU (244 -> 131 ms for 128 images
    of 28 px, one thread; benchmarks/speed.json), so 'auto' takes it where the hardware has it."""
    if precision == "fp32":
        return None
    if precision == "bf16" or device.type == "cuda" or cpu_has_bf16():
        return torch.bfloat16
    return None


def peak_memory_mb(device: torch.device | None = None) -> dict[str, float]:
    """Peak resident memory of this process so far and, on CUDA, the most the trial has had
    allocated on the card: what deciding how many trials share a node or a GPU needs. (Under Tune
    with reused actors the process peak covers the earlier trials it ran too.)"""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # bytes on macOS, KiB on Linux
    peak = {"peak_rss_mb": kib / 2**20 if sys.platform == "darwin" else kib / 2**10}
    if device is not None and device.type == "cuda":
        peak["peak_gpu_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
    return peak
