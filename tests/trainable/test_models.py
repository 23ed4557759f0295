import pytest
import torch
from torchvision.models import resnet18

from trainable.config import UserError
from trainable.models import make_model


@pytest.mark.parametrize("size", [28, 64, 128])
@pytest.mark.parametrize("name", ["small_cnn", "resnet18"])
def test_models_take_any_channels_and_size(name, size):
    model = make_model(name, in_channels=1, num_classes=3, image_size=size).eval()
    assert model(torch.zeros(2, 1, size, size)).shape == (2, 3)


def test_resnet_weights_load_from_a_local_file_with_the_stem_summed_to_grayscale(tmp_path):
    torch.manual_seed(0)
    imagenet_like = resnet18(num_classes=1000)  # stands in for a downloaded ImageNet file
    torch.save(imagenet_like.state_dict(), tmp_path / "resnet18.pth")
    model = make_model("resnet18", 1, 2, 224, weights=str(tmp_path / "resnet18.pth"))
    loaded = model.state_dict()
    assert torch.equal(
        loaded["layer3.0.conv1.weight"], imagenet_like.state_dict()["layer3.0.conv1.weight"]
    )
    expected_stem = imagenet_like.conv1.weight.sum(dim=1, keepdim=True)
    assert torch.allclose(loaded["conv1.weight"], expected_stem)
    assert loaded["fc.weight"].shape == (2, 512)  # the new head is not taken from the file


def test_unreadable_weights_are_one_line(tmp_path):
    (tmp_path / "bad.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="cannot read weights"):
        make_model("resnet18", 1, 2, 224, weights=str(tmp_path / "bad.pth"))


def test_an_unregistered_model_is_refused_not_built_as_resnet():
    with pytest.raises(ValueError, match="unknown model 'vit'"):
        make_model("vit", 1, 2, 28)


def test_precision_auto_is_bf16_on_cuda_and_on_cpus_with_bf16_instructions(monkeypatch):
    import torch

    from trainable import models

    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert models.autocast_dtype(cpu, "fp32") is None
    assert models.autocast_dtype(cuda, "fp32") is None
    assert models.autocast_dtype(cpu, "bf16") == torch.bfloat16
    assert models.autocast_dtype(cuda, "auto") == torch.bfloat16
    monkeypatch.setattr(models, "cpu_has_bf16", lambda: False)
    assert models.autocast_dtype(cpu, "auto") is None  # emulated bf16 is slower than fp32
    monkeypatch.setattr(models, "cpu_has_bf16", lambda: True)
    assert models.autocast_dtype(cpu, "auto") == torch.bfloat16


@pytest.mark.parametrize("saved", [torch.ones(3), {"conv1.weight": 1.5, "fc.bias": 2}])
def test_weights_that_are_no_state_dict_are_one_line(tmp_path, saved):
    # a bare tensor, or a dict of numbers: raised AttributeError / a torch error before
    torch.save(saved, tmp_path / "odd.pth")
    with pytest.raises(UserError, match="not a state_dict of tensors"):
        make_model("resnet18", 1, 2, 224, weights=str(tmp_path / "odd.pth"))
