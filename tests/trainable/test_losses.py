import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from trainable.config import TrainConfig, UserError
from trainable.losses import LOSSES, class_weights, focal_alpha, focal_loss, make_loss

LOGITS = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
LABELS = torch.tensor([0, 1, 1])


def p_true(i: int) -> float:
    return torch.softmax(LOGITS[i], 0)[LABELS[i]].item()


def test_class_weights_are_inverse_frequency_to_a_power():
    counts = np.array([1214, 3494])
    assert class_weights(counts, 1.0).tolist() == pytest.approx([4708 / 1214, 4708 / 3494])
    assert class_weights(counts, 0.0).tolist() == [1.0, 1.0]
    assert class_weights(counts, 0.5).tolist() == pytest.approx(
        [math.sqrt(4708 / 1214), math.sqrt(4708 / 3494)]
    )


def test_weighted_ce_matches_a_hand_computation():
    counts = np.array([1, 3])
    loss_fn = make_loss(TrainConfig(loss="weighted_ce", weight_power=1.0), counts, "cpu")
    w = [4 / 1, 4 / 3]
    by_hand = sum(-w[y] * math.log(p_true(i)) for i, y in enumerate(LABELS.tolist()))
    by_hand /= w[0] + w[1] + w[1]
    assert loss_fn(LOGITS, LABELS).item() == pytest.approx(by_hand, rel=1e-6)


def test_focal_matches_a_hand_computation():
    alpha = focal_alpha(np.array([1, 3]), 0.75)  # minority 0.75, majority 0.25
    assert alpha.tolist() == [0.75, 0.25]
    gamma = 2.0
    terms = [
        alpha[y].item() * (1 - p_true(i)) ** gamma * -math.log(p_true(i))
        for i, y in enumerate(LABELS.tolist())
    ]
    by_hand = sum(terms) / (0.75 + 0.25 + 0.25)
    assert focal_loss(LOGITS, LABELS, gamma, alpha).item() == pytest.approx(by_hand, rel=1e-6)


def test_focal_with_gamma_zero_is_alpha_weighted_ce():
    torch.manual_seed(0)
    logits, labels = torch.randn(64, 3), torch.randint(0, 3, (64,))
    alpha = torch.tensor([0.2, 0.5, 0.3])
    expected = F.cross_entropy(logits, labels, weight=alpha)
    assert torch.allclose(focal_loss(logits, labels, 0.0, alpha), expected, atol=1e-6)
    assert torch.allclose(focal_loss(logits, labels, 0.0), F.cross_entropy(logits, labels))


def test_focal_down_weights_easy_examples():
    easy, hard = torch.tensor([[4.0, 0.0]]), torch.tensor([[0.2, 0.0]])
    y = torch.tensor([0])
    ratio_ce = F.cross_entropy(hard, y) / F.cross_entropy(easy, y)
    ratio_focal = focal_loss(hard, y, 2.0) / focal_loss(easy, y, 2.0)
    assert ratio_focal > 10 * ratio_ce


def test_focal_gradient_stays_finite_for_small_gamma_on_confident_predictions():
    logits = torch.tensor([[40.0, -40.0], [0.0, 0.0]], requires_grad=True)
    loss = focal_loss(logits, torch.tensor([0, 1]), gamma=0.2)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()


def test_an_unregistered_loss_is_never_trained_as_another():
    # TrainConfig refuses it on construction; the builder table refuses it too, were it forced
    with pytest.raises(UserError, match="loss must be one of"):
        TrainConfig(loss="hinge")
    forced = TrainConfig()
    object.__setattr__(forced, "loss", "hinge")  # past the frozen dataclass's guard
    with pytest.raises(ValueError, match="unknown loss 'hinge'"):
        make_loss(forced, np.array([1, 3]), "cpu")


@pytest.mark.parametrize("name", list(LOSSES))
def test_every_loss_rewards_the_right_class_at_its_default_knobs(name):
    # a new loss is held to this by its registry line alone
    loss = make_loss(TrainConfig(loss=name), np.array([30, 90]), torch.device("cpu"))
    y = torch.tensor([0, 1, 1, 0])
    right = F.one_hot(y, 2).float() * 4 - 2  # logits +2 on the true class, -2 on the other
    value = loss(right.requires_grad_(), y)
    assert value.ndim == 0 and torch.isfinite(value)
    value.backward()
    assert torch.isfinite(right.grad).all()
    assert value < loss(-right.detach(), y)
