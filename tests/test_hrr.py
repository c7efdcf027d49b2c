"""HRR reconstruction (Yuan et al., arXiv 2502.17862): the pieces that carry the method — a bounded
correntropy loss, a KL scale regulariser that vanishes when scales agree, group sparsity that switches
uninformative features off, the reconstruction hook, and a stand-in autoencoder that models real images
only."""

import copy
import sys
import textwrap

import pytest
import torch

from benchmark import detectors
from benchmark.detectors.hrr import AdditiveHead, scale_consistency, welsch_loss
from benchmark.errors import ConfigError



def test_correntropy_loss_is_bounded_by_sigma_squared_and_quadratic_near_zero():
    residuals = torch.tensor([0.0, 1e-3, 0.5, 3.0, 1e3, -1e6])
    loss = welsch_loss(residuals, sigma=0.7)
    assert (loss <= 0.7 ** 2).all() and loss[-1] == pytest.approx(0.49)
    assert loss[0] == 0 and loss[1] == pytest.approx(1e-6, rel=1e-3)  # ≈ r² for small r
    assert (loss[1:4].diff() > 0).all()


def test_scale_kl_is_zero_for_identical_scales_and_positive_otherwise():
    z = torch.randn(5, 8)
    assert scale_consistency([z, z.clone(), z.clone()]).item() == pytest.approx(0.0, abs=1e-7)
    assert scale_consistency([z, torch.randn(5, 8)]).item() > 0.01
    assert scale_consistency([z, z + 3.0]).item() == pytest.approx(0.0, abs=1e-6)  # softmax is shift-invariant


def _fit_head(group_lasso: float) -> torch.Tensor:
    torch.manual_seed(0)
    z = torch.randn(256, 6)
    signed = (z[:, 0] > 0).float() * 2 - 1  # only feature 0 carries the label
    head = AdditiveHead(6)
    optimizer = torch.optim.Adam(head.parameters(), lr=0.05)
    for _ in range(100):
        optimizer.zero_grad()
        loss = welsch_loss(signed - head.fake_logit(z), 1.0).mean() + group_lasso * head.group_norms().sum()
        loss.backward()
        optimizer.step()
    return head.group_norms().detach()


def test_group_lasso_switches_uninformative_features_off():
    plain, sparse = _fit_head(0.0), _fit_head(0.02)
    assert sparse[1:].mean() < 0.2 * plain[1:].mean()
    assert sparse[0] > 0.5 * plain[0]  # the informative feature is kept


@pytest.fixture
def recording_reconstructor(tmp_path, monkeypatch):
    """A module ``fake_diffusion`` whose ``reconstruct`` returns zeros and records the shapes it saw."""
    (tmp_path / "fake_diffusion.py").write_text(textwrap.dedent("""
        import torch
        calls = []
        def reconstruct(images):
            calls.append(tuple(images.shape))
            return torch.zeros_like(images)
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "fake_diffusion:reconstruct"
    sys.modules.pop("fake_diffusion", None)


def test_a_given_reconstructor_replaces_the_autoencoder_at_every_scale(recording_reconstructor):
    torch.manual_seed(0)
    model = detectors.create("hrr", encoder="small", scales=[1, 2], reconstructor=recording_reconstructor).eval()
    calls = sys.modules["fake_diffusion"].calls
    images = torch.rand(2, 3, 32, 32)
    features = model.features(images)
    assert model.autoencoder is None and not any("autoencoder" in n for n, _ in model.named_parameters())
    assert calls == [(2, 3, 32, 32), (2, 3, 16, 16)]
    # a zero reconstruction leaves the images themselves as residuals
    expected = torch.cat([model.encoder(images), model.encoder(torch.nn.functional.avg_pool2d(images, 2))], 1)
    assert torch.allclose(features, expected, atol=1e-6)


def test_bad_reconstructor_is_named():
    with pytest.raises(ConfigError, match="reconstructor: expected 'module:function'"):
        detectors.create("hrr", encoder="small", reconstructor="no_colon")
    with pytest.raises(ConfigError, match="reconstructor: cannot load 'no_such_module:f'"):
        detectors.create("hrr", encoder="small", reconstructor="no_such_module:f")


def _autoencoder_gradient(labels: torch.Tensor) -> float:
    torch.manual_seed(0)
    model = detectors.create("hrr", encoder="small").train()
    model.criterion()(model(torch.rand(len(labels), 3, 32, 32)), labels).backward()
    assert model.classifier.weight.grad.abs().sum() > 0 and any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.encoder.parameters())
    return sum(float(p.grad.abs().sum()) for p in model.autoencoder.parameters() if p.grad is not None)


def test_stand_in_autoencoder_learns_from_real_images_only_and_not_from_the_classifier():
    assert _autoencoder_gradient(torch.tensor([1, 1, 1, 1])) == 0.0  # fakes: no denoising term, residual detached
    assert _autoencoder_gradient(torch.tensor([0, 1, 0, 1])) > 0.0


def test_loss_survives_a_teacher_copy_made_after_a_training_forward():
    torch.manual_seed(0)
    model = detectors.create("hrr", encoder="small").train()
    logits = model(torch.rand(4, 3, 32, 32))
    teacher = copy.deepcopy(model).eval()
    with torch.no_grad():
        teacher(torch.rand(4, 3, 32, 32))
    assert torch.isfinite(model.criterion()(logits, torch.tensor([0, 1, 0, 1])))


def test_bad_scales_are_named():
    with pytest.raises(ConfigError, match="scales must be distinct positive integers"):
        detectors.create("hrr", encoder="small", scales=[1, 1])
    with pytest.raises(ConfigError, match="scales must be a list of positive integers"):
        detectors.create("hrr", encoder="small", scales=["x"])
