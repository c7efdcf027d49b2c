"""Shared backbones: pooled features of the declared size at the synthetic scenario's 32 px, ImageNet weights
from a local file only (loaded before a network is cut), and errors that name the parameter."""

import pytest
import torch
import torchvision

from benchmark.detectors import backbones
from benchmark.detectors.backbones import FAMILIES, build_backbone
from benchmark.errors import ConfigError


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_tiny_variant_gives_pooled_features_of_its_declared_size(name):
    torch.manual_seed(0)
    backbone = build_backbone(name, tiny=True).eval()
    features = backbone(torch.rand(2, 3, 32, 32))
    assert features.shape == (2, backbone.dim) and torch.isfinite(features).all()


def test_full_xception_is_timm_legacy_xception_without_its_imagenet_head():
    backbone = build_backbone("xception").eval()
    assert type(backbone.body).__name__ == "Xception" and backbone.dim == 2048
    assert backbone(torch.rand(1, 3, 32, 32)).shape == (1, 2048)
    assert backbone.mean.flatten().tolist() == [0.5, 0.5, 0.5]  # FReTAL's normalisation


def test_weights_are_loaded_before_the_network_is_cut(tmp_path):
    torch.manual_seed(2)
    full = torchvision.models.DenseNet(growth_rate=8, block_config=(1, 1, 1, 1), num_init_features=16)
    path = tmp_path / "densenet.pth"
    torch.save(full.state_dict(), path)  # holds the layers after block 2 and the classifier too
    build = backbones.imagenet(lambda: torchvision.models.DenseNet(growth_rate=8, block_config=(1, 1, 1, 1),
                                                                   num_init_features=16),
                               "classifier", backbones.densenet_to_block2)
    body, dim = build(str(path))
    assert torch.equal(body[0].transition2.conv.weight, full.features.transition2.conv.weight)
    assert dim == full.features.transition2.conv.out_channels and len(body[0]) == 8


def test_efficientnet_weights_skip_only_the_classifier(tmp_path):
    torch.manual_seed(3)
    reference = torchvision.models.efficientnet_b0(weights=None)
    path = tmp_path / "effnet.pth"
    torch.save(reference.state_dict(), path)
    backbone = build_backbone("efficientnet_b0", weights=str(path))
    assert torch.equal(backbone.body.features[0][0].weight, reference.features[0][0].weight)
    assert backbone.dim == 1280


def test_missing_weights_file_is_an_error_for_every_pretrainable_backbone(tmp_path):
    for name, family in FAMILIES.items():
        if family.pretrainable:
            with pytest.raises(ConfigError, match="not found.*never downloads"):
                build_backbone(name, weights=str(tmp_path / f"{name}.pth"))


def test_bad_choices_name_the_parameter_and_the_fix():
    with pytest.raises(ConfigError, match="encoder: unknown backbone 'vgg'; choose one of .*xception"):
        build_backbone("vgg")
    with pytest.raises(ConfigError, match="weights: backbone 'small' has no pretrained weights"):
        build_backbone("small", weights="/models/small.pth")
    with pytest.raises(ConfigError, match="weights: the tiny test variant has no pretrained weights"):
        build_backbone("resnet50", weights="/models/resnet50.pth", tiny=True)
