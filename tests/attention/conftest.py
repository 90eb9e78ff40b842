"""The attention tests use tiny tensors: they run on one intra-op thread (``one_thread``)."""

import pytest


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield
