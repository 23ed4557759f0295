"""The answer as one file for deployment: an exported torch program and what it expects.

    python -m search.export results/NAME            # -> results/NAME/answer.pt2, answer.json
    python -m search.export results/NAME --out site/answer.pt2

    # on the deployment machine, with torch alone:
    model = torch.export.load("answer.pt2").module()
    probs = model(images)     # uint8 (N, C, H, W) -> calibrated class probabilities (N, K)

The module holds the answer's members, each with its normalisation, their mean and the
temperature fitted on validation (search.calibration); no optimiser state. answer.json (also
inside answer.pt2 as an extra file) says what it expects and returns: channels, size, the
resize method training's images went through, class names, the tuned cut and the cuts at
each sensitivity level, and the versions it was made with. `torch.export` (an ExportedProgram,
any batch size) because it loads with torch alone; TorchScript, which also worked, is
deprecated in torch 2.14, and ONNX would need onnxscript, not a dependency here.
"""

from __future__ import annotations

import argparse
import json
import sys
from importlib import metadata
from pathlib import Path

import torch
from torch import nn

from search.calibration import FLOOR
from search.predict import Answer, load_answer
from trainable.errors import UserError

EXTRA_FILE = "answer.json"


class AnswerModule(nn.Module):
    """uint8 images -> the answer's calibrated class probabilities: the softmax of the mean
    of the members' log probabilities, divided by the temperature (search.answer.average)."""

    def __init__(self, members: list[nn.Module], means, stds, temperature: float):
        super().__init__()
        self.members = nn.ModuleList(members)
        self.register_buffer(
            "means", torch.tensor(means, dtype=torch.float32)[:, None, :, None, None]
        )
        self.register_buffer(
            "stds", torch.tensor(stds, dtype=torch.float32)[:, None, :, None, None]
        )
        self.temperature = temperature

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float() / 255
        log_probs = []
        for i, member in enumerate(self.members):
            probs = torch.softmax(member((x - self.means[i]) / self.stds[i]), dim=1)
            log_probs.append(torch.log(probs.clamp_min(FLOOR)))  # as average() floors them
        mean = torch.log_softmax(torch.stack(log_probs).mean(dim=0), dim=1)
        return torch.softmax(mean / self.temperature, dim=1)


def answer_module(answer: Answer) -> AnswerModule:
    from trainable.inference import model_from_state

    cpu = torch.device("cpu")
    members = [
        model_from_state(state, answer.channels, len(answer.classes), answer.size, cpu).eval()
        for state in answer.states
    ]
    means = [s["pixel_mean"] for s in answer.states]
    stds = [s["pixel_std"] for s in answer.states]
    return AnswerModule(members, means, stds, answer.temperature).eval()


def description(answer: Answer) -> dict:
    """What the exported module expects and returns (answer.json)."""
    return {
        "input": {
            "dtype": "uint8",
            "layout": "N, C, H, W",
            "channels": answer.channels,
            "size": answer.size,
            "resize": answer.resize,
        },
        "output": "class probabilities (N, K), calibrated, in the order of `classes`",
        "classes": answer.classes,
        "threshold": answer.threshold,
        "threshold_applies_to": answer.classes[1] if answer.threshold is not None else None,
        "sensitivity_cuts": answer.sensitivity_cuts,
        "members": len(answer.states),
        "temperature": answer.temperature,
        "versions": {p: metadata.version(p) for p in ("torch", "torchvision")},
    }


def export(experiment: Path, out: Path) -> dict:
    """Write the scripted answer to `out` and its description beside it; return the latter."""
    answer = load_answer(experiment)
    module = answer_module(answer).requires_grad_(False)
    example = torch.zeros(2, answer.channels, answer.size, answer.size, dtype=torch.uint8)
    batch = torch.export.Dim("batch")
    program = torch.export.export(module, (example,), dynamic_shapes=({0: batch},))
    info = description(answer)
    text = json.dumps(info, indent=2)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.pt2")  # torch.export.save wants the .pt2 ending
    torch.export.save(program, tmp, extra_files={EXTRA_FILE: text})
    tmp.replace(out)
    out.with_suffix(".json").write_text(text + "\n")
    return info


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m search.export", description=__doc__)
    p.add_argument("experiment", type=Path, help="a finished search's folder (results/NAME)")
    p.add_argument("--out", type=Path, help="the file written (default: EXPERIMENT/answer.pt2)")
    args = p.parse_args(argv)
    out = args.out or args.experiment / "answer.pt2"
    try:
        info = export(args.experiment, out)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    shape = f"{info['input']['channels']}x{info['input']['size']}x{info['input']['size']}"
    print(f"{out}: {info['members']} models, input uint8 (N, {shape}); {out.with_suffix('.json')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
