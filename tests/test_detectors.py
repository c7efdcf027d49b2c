"""Every registered detector keeps the contract; pretrained weights only ever come from a local file."""

import pytest
import torch
import torchvision

from benchmark import detectors
from benchmark.detectors.base import Detector, fake_probability
from benchmark.errors import ConfigError


@pytest.mark.parametrize("name", detectors.available())
def test_detector_maps_images_to_two_logits_and_exposes_features(name):
    torch.manual_seed(0)
    model = detectors.create(name, **detectors.REGISTRY.small_params(name)).eval()
    images = torch.rand(3, 3, 32, 32)
    logits = model(images)
    assert isinstance(model, Detector)
    assert logits.shape == (3, 2) and torch.isfinite(logits).all()
    features = model.features(images)
    assert features.ndim == 2 and features.shape[0] == 3
    assert torch.allclose(model.classifier(features), logits, atol=1e-5)
    p = fake_probability(logits)
    assert ((0 <= p) & (p <= 1)).all()


def test_fake_probability_of_a_single_fake_logit_is_its_sigmoid():
    z = torch.tensor([-2.0, 0.0, 3.0])
    logits = torch.stack([torch.zeros_like(z), z], dim=1)
    assert torch.allclose(fake_probability(logits), torch.sigmoid(z))


def test_missing_weights_file_is_an_error_not_a_random_init(tmp_path):
    missing = tmp_path / "resnet18.pth"
    with pytest.raises(ConfigError, match=f"{missing} not found.*never downloads"):
        detectors.create("resnet18", weights=str(missing))


def test_local_torchvision_weights_are_loaded_except_the_imagenet_head(tmp_path):
    torch.manual_seed(1)
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    model = detectors.create("resnet18", weights=str(path))
    assert torch.equal(model.backbone.body.conv1.weight, reference.conv1.weight)
    assert torch.equal(model.backbone.body.layer4[1].bn2.running_var, reference.layer4[1].bn2.running_var)
    assert model.classifier.out_features == 2


def test_weights_for_another_network_are_refused(tmp_path):
    path = tmp_path / "resnet50.pth"
    torch.save({"state_dict": torchvision.models.resnet50(weights=None).state_dict()}, path)
    with pytest.raises(ConfigError, match="does not fit this network"):
        detectors.create("resnet18", weights=str(path))


def test_small_parameters_are_checked_when_registered():
    from benchmark.registry import Registry

    registry = Registry("detector")
    with pytest.raises(ConfigError, match="has no parameter 'widht'"):
        registry.register("x", small={"widht": 2})(lambda *, width=4: None)


def test_unknown_detector_and_parameter_are_named():
    with pytest.raises(ConfigError, match="unknown detector 'vgg'"):
        detectors.create("vgg")
    with pytest.raises(ConfigError, match="has no parameter 'depth'.*widths"):
        detectors.create("smallcnn", depth=3)


@pytest.mark.parametrize("name", detectors.available())
def test_forward_attaches_the_features_of_the_same_pass(name):
    from benchmark.detectors.heads import forward_features

    torch.manual_seed(0)
    model = detectors.create(name, **detectors.REGISTRY.small_params(name)).eval()
    images = torch.rand(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.allclose(forward_features(model(images), name), model.features(images), atol=1e-5)


def test_a_detector_is_described_by_its_name_and_the_parameters_it_changed():
    assert detectors.describe("smallcnn", detectors.REGISTRY.params("smallcnn", {})) == "smallcnn"
    assert detectors.describe("smallcnn", {"widths": [16, 32, 64, 64]}) == "smallcnn"  # a list read from JSON
    assert detectors.describe("cmfl", detectors.REGISTRY.params("cmfl", {"encoder": "small"})) == "cmfl encoder=small"
    assert detectors.describe("hrr", {"encoder": "small", "sigma": 2.0}) == "hrr encoder=small sigma=2.0"


def test_weights_of_another_shape_name_the_first_misfit_and_both_shapes(tmp_path):
    state = torchvision.models.resnet18(weights=None).state_dict()
    state["layer2.0.conv1.weight"] = torch.zeros(128, 64, 5, 5)
    path = tmp_path / "resnet18.pth"
    torch.save(state, path)
    with pytest.raises(ConfigError, match=rf"{path} does not fit this network: layer2\.0\.conv1\.weight has shape "
                                          rf"\(128, 64, 5, 5\) in the file but \(128, 64, 3, 3\) in the network"):
        detectors.create("resnet18", weights=str(path))
