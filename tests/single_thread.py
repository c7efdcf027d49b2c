"""A fixture for tests that train tiny models: one torch thread. Batches of 16 small images gain nothing
from a second thread, and on a busy machine OpenMP threads waiting for each other multiplied the pair
test's time by eight. Import ``one_thread`` into a test module to apply it to every test there."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
