"""The attention tests use tiny tensors: one intra-op thread avoids thread start-up and spinning,
which dominate their run time on a shared 2-core machine."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
