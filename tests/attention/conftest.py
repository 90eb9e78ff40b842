"""The attention tests use tiny tensors: they run on one intra-op thread (``one_thread``).

They check each module's plain path, its one implementation: the library's fast paths are off
here, and test_ops.py checks them equal to the plain path.
"""

import pytest

from attnzoo.attention import _ops


@pytest.fixture(autouse=True)
def _one_thread(one_thread):
    yield


@pytest.fixture(autouse=True)
def _plain_paths():
    with _ops.fast_paths(False):
        yield
