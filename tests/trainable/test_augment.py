import pytest
import torch

from trainable.augment import augment

pytestmark = pytest.mark.integration  # real PneumoniaMNIST images


def batch(pneumoniamnist, n: int = 64) -> torch.Tensor:
    return torch.from_numpy(pneumoniamnist.train_x[:n]).float() / 255


def change(x: torch.Tensor, strength: float, seed: int = 0) -> torch.Tensor:
    """Mean absolute pixel change per image."""
    g = torch.Generator().manual_seed(seed)
    out = augment(x, torch.full((len(x),), strength), g)
    return (out - x).abs().mean(dim=(1, 2, 3))


def test_strength_zero_is_the_identity(pneumoniamnist):
    x = batch(pneumoniamnist)
    g = torch.Generator().manual_seed(0)
    assert torch.equal(augment(x, torch.zeros(len(x)), g), x)
    # per-image: the zero-strength half stays bit-exact while the rest changes
    mixed = augment(x, torch.tensor([0.0, 1.0] * 32), g)
    assert torch.equal(mixed[::2], x[::2])
    assert not torch.equal(mixed[1::2], x[1::2])


def test_larger_strength_changes_images_more(pneumoniamnist):
    x = batch(pneumoniamnist)
    means = [change(x, s).mean().item() for s in (0.1, 0.4, 1.0)]
    assert means[0] < means[1] < means[2]


def test_each_image_gets_its_own_parameters(pneumoniamnist):
    # the same image 64 times: one shared parameter set would give 64 equal outputs
    x = batch(pneumoniamnist)[:1].repeat(64, 1, 1, 1)
    out = augment(x, torch.ones(64), torch.Generator().manual_seed(0))
    distinct = {tuple(o.flatten()[::7].round(decimals=4).tolist()) for o in out}
    assert len(distinct) == 64


def test_output_stays_a_valid_image_and_is_seeded(pneumoniamnist):
    x = batch(pneumoniamnist)
    a = augment(x, torch.ones(len(x)), torch.Generator().manual_seed(5))
    b = augment(x, torch.ones(len(x)), torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    assert a.min() >= 0 and a.max() <= 1 and a.shape == x.shape
