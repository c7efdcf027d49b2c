"""The training loader: the batches Avalanche's loader gives for the same stream, bit for bit, whichever path
fetches them; crops on the device from the run's stream; shared plugins that do not wait for the device."""

import pytest
import torch
from avalanche.benchmarks.utils import concat_datasets
from conftest import two_family_folder
from torch.utils.data import DataLoader

import scenarios
from benchmark.loader import BatchFetch, LoaderSettings, plain_sources, training_loader
from benchmark.stream import training_stream
from benchmark.training import LossMonitor, ProgressBar, silent_evaluator

CPU = torch.device("cpu")


@pytest.fixture
def folder_scenario(tmp_path, monkeypatch):
    monkeypatch.setenv("DFCL_CACHE", str(tmp_path / "cache"))
    return scenarios.load(two_family_folder(tmp_path, per_class=6, size=30, params={"crop": 24}), data_root=tmp_path)


def avalanche_batches(dataset, seed: int, epochs: int = 2):
    """What the template's own loader (and SeededTrainLoader before it) gave: Avalanche's items, collated."""
    torch.manual_seed(100)  # per-image random views draw from the global generator
    loader = DataLoader(dataset, batch_size=5, shuffle=True, collate_fn=dataset.collate_fn,
                        generator=torch.Generator().manual_seed(seed))
    return [batch for _ in range(epochs) for batch in loader]


def our_batches(dataset, seed: int, epochs: int = 2, settings=LoaderSettings()):
    torch.manual_seed(100)
    loader = training_loader(dataset, 5, torch.Generator().manual_seed(seed), 0, settings, CPU,
                             torch.Generator().manual_seed(7))
    return [batch for _ in range(epochs) for batch in loader]


def assert_same(ours, theirs):
    assert len(ours) == len(theirs)
    for mine, reference in zip(ours, theirs):
        assert len(mine) == len(reference) == 3
        for a, b in zip(mine, reference):
            assert a.dtype == b.dtype and torch.equal(a, b)


def test_in_memory_batches_are_avalanches(two_task_scenario):
    stream = list(training_stream(two_task_scenario))
    dataset = stream[0].dataset.train()
    assert plain_sources(dataset) is not None  # the fast path is taken …
    assert_same(our_batches(dataset, 3), avalanche_batches(dataset, 3))  # … and gives the same batches


def test_a_concatenation_as_joint_trains_on_it_gives_avalanches_batches(two_task_scenario):
    stream = list(training_stream(two_task_scenario))
    joint = concat_datasets([e.dataset.train() for e in stream])
    assert len(plain_sources(joint)) == 2
    assert_same(our_batches(joint, 4), avalanche_batches(joint, 4))


def test_folder_batches_with_random_views_are_avalanches(folder_scenario):
    dataset = next(iter(training_stream(folder_scenario))).dataset.train()
    assert plain_sources(dataset) is not None
    ours = our_batches(dataset, 5)
    assert_same(ours, avalanche_batches(dataset, 5))
    assert ours[0][0].shape == (5, 3, 24, 24)


def test_what_the_fast_path_does_not_know_keeps_avalanches_path(folder_scenario):
    dataset = next(iter(training_stream(folder_scenario))).dataset.train()
    subset = dataset.subset([5, 1, 2, 7, 0, 3])
    assert plain_sources(subset) is None
    assert_same(our_batches(subset, 6), avalanche_batches(subset, 6))


def test_crops_on_the_device_come_from_the_runs_stream(folder_scenario):
    dataset = next(iter(training_stream(folder_scenario))).dataset.train()
    settings = LoaderSettings(augment_on_device=True)
    assert BatchFetch(dataset, uint8_crops=True).device_view is not None
    first, again = our_batches(dataset, 5, settings=settings), our_batches(dataset, 5, settings=settings)
    assert_same(first, again)  # repeatable for a seed
    reference = avalanche_batches(dataset, 5)
    for (images, labels, tasks), (_, their_labels, their_tasks) in zip(first, reference):
        assert images.dtype == torch.float32 and images.shape[1:] == (3, 24, 24) and 0 <= images.min() <= images.max() <= 1
        assert images.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(labels, their_labels) and torch.equal(tasks, their_tasks)  # the same images, in order
    assert not torch.equal(first[0][0], reference[0][0])  # only the random windows differ


def test_kept_workers_shuffle_every_epoch_as_fresh_ones(two_task_scenario):
    dataset = next(iter(training_stream(two_task_scenario))).dataset.train()

    def labels(persistent: bool) -> list[list[int]]:
        loader = training_loader(dataset, 5, torch.Generator().manual_seed(2), 1,
                                 LoaderSettings(persistent_workers=persistent), CPU, torch.Generator())
        return [batch[1].tolist() for _ in range(3) for batch in loader]

    kept, fresh = labels(True), labels(False)
    assert kept == fresh and kept[:10] != kept[10:20]  # the same, and reshuffled each epoch


def test_loader_settings_follow_the_device():
    assert LoaderSettings.for_device(CPU) == LoaderSettings(False, False, False)
    assert LoaderSettings.for_device(torch.device("cuda")) == LoaderSettings(True, True, True)
    assert LoaderSettings.for_device(torch.device("cuda"), pin_memory=False).pin_memory is False


class _Clock:
    train_exp_counter, train_exp_epochs = 0, 0


class _NoSyncLoss:
    def item(self):
        raise AssertionError("the progress bar waited for the device (loss.item())")

    def detach(self):
        return torch.tensor(0.5)


def test_shared_plugins_do_not_wait_for_the_device_every_few_steps():
    strategy = type("S", (), {"loss": _NoSyncLoss(), "clock": _Clock()})()
    monitor = LossMonitor("x", check_every=1000)
    bar = ProgressBar("x", monitor)
    bar.bar = type("Bar", (), {"disable": False, "n": 0, "update": lambda self: None,
                               "set_postfix": lambda self, **kw: None})()
    monitor.before_training_epoch(strategy)
    for _ in range(40):
        monitor.after_training_iteration(strategy)
        bar.after_training_iteration(strategy)
    monitor.after_training_epoch(strategy)
    assert monitor.recent == pytest.approx(0.5) and monitor.epochs == [pytest.approx(0.5)]


def test_the_evaluator_answers_no_training_event():
    evaluator = silent_evaluator()
    events = ("before_training_iteration", "before_forward", "after_forward", "before_backward", "after_backward",
              "before_update", "after_update", "after_training_iteration")
    assert not any(hasattr(evaluator, event) for event in events)
    assert evaluator.get_last_metrics() == {}


def test_the_default_worker_count_on_cuda_does_not_follow_the_machines_cores(monkeypatch):
    """The worker count is part of a run's configuration (per-image crops are drawn in the workers): a default
    that followed the cores would give one run two hashes on two machines, and a retry could not resume."""
    from benchmark import data_cache, loader

    counts = set()
    for cores in (2, 16, 128):
        monkeypatch.setattr(data_cache, "available_cores", lambda cores=cores: cores)
        counts.add(loader.default_workers(torch.device("cuda")))
    assert counts == {loader.CUDA_WORKERS} and loader.default_workers(CPU) == 0


def test_augmenting_on_the_device_is_part_of_the_configuration_when_it_is_on(two_task_scenario):
    """It draws other crops than the loader does, so runs with and without it are not seeds of one run; off
    (the CPU default), the configuration is the one it was before the option existed."""
    from benchmark.runner import RunRequest, resolve_config

    def config(**request):
        return resolve_config(RunRequest(scenario="tiny", strategy="naive", **request), two_task_scenario, {}, CPU)[0]

    assert "augment_on_device" not in config() and config(augment_on_device=True)["augment_on_device"] is True
