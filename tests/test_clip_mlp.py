"""clip-mlp: the paper's head and loss, a frozen encoder that is the same in every run, and weights that only
ever come from a local file."""

import math
import sys

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from benchmark import detectors
from benchmark.detectors.clip_mlp import RobustLoss
from benchmark.errors import ConfigError
from benchmark.losses import cvar_loss, pairwise_auc_loss
from benchmark.sam import SharpnessAwareMinimisation


def tiny(**params):
    return detectors.create("clip-mlp", encoder="tiny-random", **params)


def test_head_is_three_linear_batchnorm_leakyrelu_dropout_blocks_then_one_logit():
    model = tiny()
    width = model.encoder.output_dim
    kinds = [type(layer) for layer in model.body]
    assert kinds == [nn.Linear, nn.BatchNorm1d, nn.LeakyReLU, nn.Dropout] * 3
    for block in range(3):
        linear, norm, relu, dropout = model.body[4 * block: 4 * block + 4]
        assert (linear.in_features, linear.out_features, norm.num_features) == (width, width, width)
        assert relu.negative_slope == 0.01 and dropout.p == 0.335
    assert (model.classifier.linear.in_features, model.classifier.linear.out_features) == (width, 1)
    for linear in [*model.body[::4], model.classifier.linear]:  # Kaiming uniform (fan_in, ReLU gain)
        bound = math.sqrt(6 / linear.in_features)
        assert linear.weight.abs().max() <= bound and linear.weight.abs().max() > 0.9 * bound


def test_single_fake_logit_is_returned_as_zero_and_z():
    model = tiny().eval()
    logits = model(torch.rand(5, 3, 32, 32))
    assert torch.equal(logits[:, 0], torch.zeros(5)) and logits[:, 1].abs().sum() > 0


def test_images_and_their_cached_embeddings_give_the_same_outputs():
    model = tiny().eval()
    images = torch.rand(6, 3, 32, 32)
    embeddings = model.input_encoder()(images)
    assert embeddings.shape == (6, model.encoder.output_dim)
    assert torch.allclose(model(images), model(embeddings), atol=1e-6)
    assert torch.allclose(model.features(images), model.features(embeddings), atol=1e-6)
    with pytest.raises(ValueError, match="encoder embeddings B×64"):
        model(torch.rand(6, 10))


def test_encoder_is_frozen_in_eval_mode_and_the_same_whatever_the_seed():
    torch.manual_seed(0)
    first = tiny().train()
    torch.manual_seed(1)
    second = tiny()
    assert not any(p.requires_grad for p in first.encoder.parameters())
    assert not first.encoder.training and first.body.training
    for (name, a), b in zip(first.encoder.state_dict().items(), second.encoder.state_dict().values()):
        assert torch.equal(a, b), name
    assert not torch.equal(first.body[0].weight, second.body[0].weight)  # the head follows the run's seed


def test_loss_is_gamma_cvar_of_bce_plus_one_minus_gamma_auc_loss():
    """Both terms are checked against brute force in test_losses; here, how they are combined."""
    generator = torch.Generator().manual_seed(0)
    z = torch.randn(12, generator=generator)
    labels = torch.tensor([0, 1] * 6)
    logits = torch.stack([torch.zeros_like(z), z], dim=1)
    cvar = cvar_loss(F.binary_cross_entropy_with_logits(z, labels.float(), reduction="none"), alpha=0.8)
    auc = pairwise_auc_loss(z, labels, margin=0.6, power=2.0)
    model = tiny(gamma=0.1)
    assert isinstance(model.criterion(), RobustLoss)
    assert model.criterion()(logits, labels).item() == pytest.approx((0.1 * cvar + 0.9 * auc).item(), rel=1e-5)


def test_detector_trains_with_sam_and_refuses_bad_hyper_parameters():
    plugin, = tiny(sam_rho=0.1).training_plugins()
    assert isinstance(plugin, SharpnessAwareMinimisation) and plugin.rho == 0.1
    for bad in ({"gamma": 1.5}, {"cvar_alpha": 0}, {"auc_power": 1}, {"sam_rho": 0}):
        with pytest.raises(ConfigError, match=f"clip-mlp.*{next(iter(bad))}"):
            tiny(**bad)


def test_missing_clip_weights_file_is_an_error_never_a_download(tmp_path):
    missing = tmp_path / "ViT-L-14.pt"
    with pytest.raises(ConfigError, match=f"{missing} not found.*never downloads"):
        detectors.create("clip-mlp", weights=str(missing))
    with pytest.raises(ConfigError, match="needs its pretrained weights from a local file"):
        detectors.create("clip-mlp")
    with pytest.raises(ConfigError, match="takes no weights file"):
        detectors.create("clip-mlp", encoder="tiny-random", weights=str(missing))


def test_open_clip_missing_names_the_extra_to_install(tmp_path, monkeypatch):
    weights = tmp_path / "ViT-L-14.pt"
    weights.write_bytes(b"")
    monkeypatch.setitem(sys.modules, "open_clip", None)  # makes ``import open_clip`` fail
    with pytest.raises(ConfigError, match=r"open_clip, which is not installed.*'clip' extra.*\.\[clip\]"):
        detectors.create("clip-mlp", weights=str(weights))
