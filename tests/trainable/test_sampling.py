import numpy as np
import pytest

from trainable.config import TrainConfig
from trainable.errors import UserError
from trainable.sampling import (
    BEFORE_TRAINING,
    SAMPLERS,
    epoch_indices,
    epoch_length,
    resample_pixels,
)

pytestmark = pytest.mark.integration  # real PneumoniaMNIST labels and images


def sampler(name: str, power: float = 1.0) -> TrainConfig:
    return TrainConfig(sampler=name, sampler_power=power)


def minority_share(name: str, labels: np.ndarray, power: float = 1.0, epochs: int = 20) -> float:
    cfg = sampler(name, power)
    drawn = np.concatenate([labels[epoch_indices(cfg, labels, seed=s)] for s in range(epochs)])
    return float(np.mean(drawn == 0))


def test_none_sees_every_image_once_per_epoch(pneumoniamnist):
    y = pneumoniamnist.train_y
    order = epoch_indices(sampler("none"), y, seed=3)
    assert sorted(order.tolist()) == list(range(len(y)))
    assert not np.array_equal(order, epoch_indices(sampler("none"), y, seed=4))  # reshuffled


@pytest.mark.parametrize("power, expected", [(0.0, 1214 / 4708), (0.5, None), (1.0, 0.5)])
def test_oversample_power_moves_from_natural_to_balanced(pneumoniamnist, power, expected):
    y = pneumoniamnist.train_y
    share = minority_share("oversample", y, power)
    if expected is None:  # half way: weights sqrt(1/n_c), share = sqrt(n0) / (sqrt(n0) + sqrt(n1))
        expected = np.sqrt(1214) / (np.sqrt(1214) + np.sqrt(3494))
    assert abs(share - expected) < 0.01
    assert len(epoch_indices(sampler("oversample", power), y, seed=0)) == len(y)


def test_undersample_draws_the_majority_down_each_epoch(pneumoniamnist):
    y = pneumoniamnist.train_y
    first = epoch_indices(sampler("undersample"), y, seed=0)
    assert np.bincount(y[first]).tolist() == [1214, 1214]
    assert len(set(first.tolist())) == len(first)  # without replacement
    seen = set()
    for seed in range(10):
        seen |= set(epoch_indices(sampler("undersample"), y, seed=seed).tolist())
    # a fresh majority subset every epoch: after 10 epochs nearly all majority images were used
    assert sum(y[list(seen)] == 1) > 0.95 * 3494


@pytest.mark.parametrize("sampler", list(BEFORE_TRAINING))
def test_smote_balances_on_pixels_and_keeps_uint8_images(pneumoniamnist, sampler):
    x, y = pneumoniamnist.train_x[:1200], pneumoniamnist.train_y[:1200]
    new_x, new_y = resample_pixels(sampler, x, y, seed=0)
    assert new_x.dtype == np.uint8 and new_x.shape[1:] == x.shape[1:]
    c = np.bincount(new_y)
    if sampler == "smote":
        assert c[0] == c[1] == np.bincount(y).max()
    else:  # Tomek links then drop a few boundary pairs
        assert abs(c[0] - c[1]) < 0.05 * c.sum()
    # the originals are kept; synthetic minority images come on top
    assert np.array_equal(new_x[: len(x)], x)


def test_every_sampler_orders_an_epoch_and_an_unknown_one_is_refused(pneumoniamnist):
    y = pneumoniamnist.train_y
    for name in SAMPLERS:
        order = epoch_indices(sampler(name), y, seed=0)
        assert len(order) == epoch_length(sampler(name), y) and order.max() < len(y)
    assert epoch_length(sampler("undersample"), y) == 2 * 1214
    with pytest.raises(UserError, match="sampler must be one of .*got 'smote-tomek'"):
        sampler("smote-tomek")  # the config refuses it before any sampler runs


def test_smote_on_a_class_of_one_image_is_refused_by_name(pneumoniamnist):
    x = pneumoniamnist.train_x[:40]
    y = np.r_[np.zeros(1, dtype=np.int64), np.ones(39, dtype=np.int64)]
    with pytest.raises(UserError, match="sampler 'smote' needs at least 2 training images"):
        resample_pixels("smote", x, y, seed=0)
