"""Folder scenarios' two views: augmented training crops, and the centre crop that evaluation and every
evaluation-view pass over training images (FReTAL's prototypes, DER's logits, EWC's Fisher) must see."""

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

import scenarios
import strategies
from benchmark import detectors
from benchmark.stream import training_stream
from benchmark.training import TrainConfig, TrainSetup


def write_images(folder, count, size=40):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(str(folder)))
    for index in range(count):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(folder / f"{index:03d}.png")


@pytest.fixture
def folder_scenario(tmp_path):
    for cls in ("0_real", "1_fake"):
        write_images(tmp_path / "data" / "famA" / cls, 5)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"name": "disk", "version": "1", "source": "folder", "tasks": ["famA"],
                                    "params": {"dataset": "data", "crop": 24}}))
    return scenarios.load(path, data_root=tmp_path)


def build(name):
    torch.manual_seed(0)
    setup = TrainSetup(TrainConfig(epochs=1, batch_size=4), torch.device("cpu"))
    return strategies.create(name, detectors.create("smallcnn"), setup, **strategies.REGISTRY.small_params(name))


def draws(dataset, index=0, times=6):
    return [dataset[index][0] for _ in range(times)]


def test_experience_eval_view_is_the_centre_crop_and_train_view_varies(folder_scenario):
    experience = next(iter(training_stream(folder_scenario)))
    torch.manual_seed(0)
    train_views = draws(experience.dataset.train())
    eval_views = draws(experience.dataset.eval())
    assert all(torch.equal(view, eval_views[0]) for view in eval_views)
    assert not all(torch.equal(view, train_views[0]) for view in train_views)
    assert eval_views[0].shape == train_views[0].shape == (3, 24, 24)
    # the evaluation view of training images is what the test split serves: a centre crop
    task = folder_scenario.tasks[0]
    assert torch.equal(task.eval_view("train")[0][0], eval_views[0])
    assert torch.equal(task.test[0][0], task.eval_view("test")[0][0])
    centre = torch.from_numpy(np.array(Image.open(task.train.paths[0]))).permute(2, 0, 1)[:, 8:32, 8:32]
    assert torch.equal((eval_views[0] * 255).round().byte(), centre)  # 40 px → 24 px: offset 8


TRAIN_TAG, EVAL_TAG = 0.25, 0.75


def tag(value):
    return lambda image: torch.full((3, 16, 16), value)


@pytest.fixture
def tagged_scenario(tmp_path):
    """Two tasks whose views are recognisable from the pixels: every training view is 0.25, every
    evaluation view 0.75."""
    for family in ("famA", "famB"):
        for cls in ("0_real", "1_fake"):
            write_images(tmp_path / "data" / family / cls, 6)
    path = tmp_path / "scenario.yaml"
    path.write_text(yaml.safe_dump({"name": "disk", "version": "1", "source": "folder", "tasks": ["famA", "famB"],
                                    "params": {"dataset": "data", "crop": 16, "verify": False}}))
    scenario = scenarios.load(path, data_root=tmp_path)
    for task in scenario.tasks:
        for split in ("train", "val", "test"):
            getattr(task, split).views = {"train": tag(TRAIN_TAG), "eval": tag(EVAL_TAG)}
    return scenario


def seen_views(scenario, name):
    """(model in training mode?, pixel value) of every forward pass while ``name`` trains both tasks."""
    seen = []
    strategy = build(name)
    strategy.model.register_forward_pre_hook(lambda module, args: seen.append((module.training, args[0].mean().item())))
    for experience in training_stream(scenario):
        strategy.train(experience)
    return seen


@pytest.mark.parametrize("name", ["der", "ewc"])
def test_passes_in_eval_mode_over_training_images_see_the_evaluation_view(tagged_scenario, name):
    """DER's stored logits and EWC's Fisher run the model in eval mode over the task's training images."""
    seen = seen_views(tagged_scenario, name)
    assert {value for training, value in seen if training} == {TRAIN_TAG}
    assert {value for training, value in seen if not training} == {EVAL_TAG}


def test_fretal_prototypes_see_the_evaluation_view(tagged_scenario, monkeypatch):
    import strategies.fretal as fretal
    values = []
    original = fretal.teacher_prototypes

    def spy(teacher, dataset, *args, **kwargs):
        values.extend(dataset[i][0].mean().item() for i in range(len(dataset)))
        return original(teacher, dataset, *args, **kwargs)

    monkeypatch.setattr(fretal, "teacher_prototypes", spy)
    seen_views(tagged_scenario, "fretal")
    assert values and set(values) == {EVAL_TAG}
