"""The answer as one torch module: uint8 images in, calibrated class probabilities out.

    module = answer_module(load_answer(Path("results/NAME")))
    probs = module(torch.from_numpy(images))      # (N, C, H, W) uint8 -> (N, K)

What search.export saves (torch.export or ONNX); apart from it so that the command's --help
does not import torch.
"""

from __future__ import annotations

import torch
from torch import nn

from search.deploy.answer import Answer
from search.stats.calibration import FLOOR


class AnswerModule(nn.Module):
    """uint8 images -> the answer's calibrated class probabilities: the softmax of the mean
    of the members' log probabilities, divided by the temperature (search.answer.rules.average)."""

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
