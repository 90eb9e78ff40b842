"""Checkpoints: safetensors + JSON round trip, refusal of corrupt and pickled files, fallback."""

import pickle

import pytest
import torch

from attnzoo.engine.checkpoint import (
    CheckpointError,
    load_checkpoint,
    load_latest,
    previous_path,
    save_checkpoint,
)


def trained_state():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(torch.randn(5, 3)).square().sum().backward()
    optimizer.step()
    return {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "rng": [torch.get_rng_state()],
        "epoch": 3,
        "sums": {"loss": 0.1 + 0.2, "count": 7},
        "config": {"model": "x", "milestones": [1, 2]},
        "last": None,
    }


def test_round_trip_keeps_tensors_types_and_int_keys(tmp_path):
    state = trained_state()
    save_checkpoint(tmp_path / "c.safetensors", state)
    loaded = load_checkpoint(tmp_path / "c.safetensors")
    assert loaded["epoch"] == 3 and loaded["sums"] == state["sums"] and loaded["last"] is None
    assert loaded["config"] == state["config"]
    assert all(torch.equal(loaded["model"][k], v) for k, v in state["model"].items())
    assert list(loaded["optimizer"]["state"]) == [0, 1, 2, 3]  # int keys survive JSON
    assert torch.equal(loaded["rng"][0], state["rng"][0])
    # The optimiser state loads back into a fresh optimiser and holds the momentum buffers.
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    fresh = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    fresh.load_state_dict(loaded["optimizer"])
    buffer = state["optimizer"]["state"][0]["momentum_buffer"]
    assert torch.equal(fresh.state_dict()["state"][0]["momentum_buffer"], buffer)


def test_saving_keeps_the_previous_checkpoint(tmp_path):
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, {**trained_state(), "epoch": 1})
    save_checkpoint(path, {**trained_state(), "epoch": 2})
    assert load_checkpoint(path)["epoch"] == 2
    assert load_checkpoint(previous_path(path))["epoch"] == 1


@pytest.mark.parametrize("damage", ["flip", "truncate", "empty"])
def test_damaged_checkpoints_are_refused_and_the_previous_one_used(tmp_path, damage):
    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, {**trained_state(), "epoch": 1})
    save_checkpoint(path, {**trained_state(), "epoch": 2})
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[-3] ^= 0xFF  # inside the tensor bytes: only the checksum notices
    path.write_bytes(
        bytes(data) if damage == "flip" else bytes(data[: len(data) // 2 if damage else 0])
    )
    if damage == "empty":
        path.write_bytes(b"")
    with pytest.raises(CheckpointError, match=str(path.name)):
        load_checkpoint(path)
    with pytest.warns(UserWarning, match="trying the previous checkpoint"):
        state, used = load_latest(path)
    assert state["epoch"] == 1 and used == previous_path(path)


def test_no_checkpoint_at_all(tmp_path):
    assert load_latest(tmp_path / "checkpoint.safetensors") is None
    with pytest.raises(FileNotFoundError, match="checkpoint not found"):
        load_checkpoint(tmp_path / "checkpoint.safetensors")


class Exploit:
    """Unpickling this runs code: it creates a file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


@pytest.mark.parametrize("writer", ["pickle", "torch"])
def test_a_malicious_pickle_is_refused_without_running_it(tmp_path, writer):
    marker = tmp_path / "pwned"
    path = tmp_path / "checkpoint.safetensors"
    payload = {"model": Exploit(marker), "config": {}}
    if writer == "pickle":
        path.write_bytes(pickle.dumps(payload))
    else:
        torch.save(payload, path)
    with pytest.raises(CheckpointError, match="never unpickles"):
        load_checkpoint(path)
    assert not marker.exists()
    if writer == "pickle":  # the payload is a real exploit: unpickling it does run code
        pickle.loads(path.read_bytes())
        assert marker.exists()


def test_unsupported_objects_are_a_clear_error(tmp_path):
    with pytest.raises(TypeError, match="cannot store a set"):
        save_checkpoint(tmp_path / "c.safetensors", {"model": {}, "config": {}, "bad": {1, 2}})
    assert not (tmp_path / "c.safetensors").exists()


def test_a_crash_between_the_renames_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    """The worst moment: the current checkpoint moved aside, the new one not yet in place."""
    import os

    from attnzoo.engine import checkpoint

    path = tmp_path / "checkpoint.safetensors"
    save_checkpoint(path, {**trained_state(), "epoch": 1})
    save_checkpoint(path, {**trained_state(), "epoch": 2})
    calls, real_replace = [], os.replace

    # Renames: the temporary file's (in atomic_write), current -> previous, new -> current.
    def crash_on_last_rename(src, dst):
        calls.append(dst)
        if len(calls) == 3:
            raise OSError(5, "Input/output error")  # the process dies here
        real_replace(src, dst)

    monkeypatch.setattr(checkpoint.os, "replace", crash_on_last_rename)
    with pytest.raises(CheckpointError, match="is intact"):
        save_checkpoint(path, {**trained_state(), "epoch": 3})
    monkeypatch.undo()
    assert not path.exists()
    state, used = load_latest(path)
    assert state["epoch"] == 2 and used == previous_path(path)


def test_model_tensors_load_with_plain_safetensors_and_strict_load_state_dict(tmp_path):
    from safetensors.torch import load_file

    state = trained_state()
    save_checkpoint(tmp_path / "c.safetensors", state)
    tensors = load_file(tmp_path / "c.safetensors")
    weights = {k: v for k, v in tensors.items() if not k.startswith("~")}
    assert set(weights) == set(state["model"])  # names are the state_dict's, nothing else
    assert "~optimizer/state/0/momentum_buffer" in tensors
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))
    model.load_state_dict(weights, strict=True)
    assert all(torch.equal(model.state_dict()[k], v) for k, v in state["model"].items())


def write_format_1(path, state):
    """A checkpoint as format 1 wrote it: every tensor under t0 ... tN, in the order met."""
    import hashlib
    import json
    import struct

    from safetensors.torch import save

    tensors = {}

    def encode(obj):
        if isinstance(obj, torch.Tensor):
            key = f"t{len(tensors)}"
            tensors[key] = obj.detach().contiguous().clone()
            return {"__tensor__": key}
        if isinstance(obj, dict):
            if all(isinstance(k, str) for k in obj):
                return {k: encode(v) for k, v in obj.items()}
            return {"__items__": [[k, encode(v)] for k, v in obj.items()]}
        if isinstance(obj, list | tuple):
            return [encode(v) for v in obj]
        return obj

    skeleton = json.dumps(encode(state))
    plain = save(tensors)
    (size,) = struct.unpack("<Q", plain[:8])
    digest = hashlib.sha256(plain[8 + size :]).hexdigest()
    meta = {"format": "attnzoo-checkpoint-1", "state": skeleton, "sha256": digest}
    path.write_bytes(save(tensors, metadata=meta))


def test_format_1_checkpoints_still_load(tmp_path):
    from safetensors.torch import load_file

    state = trained_state()
    write_format_1(tmp_path / "old.safetensors", state)
    assert "t0" in load_file(tmp_path / "old.safetensors")  # really the old naming
    loaded = load_checkpoint(tmp_path / "old.safetensors")
    assert all(torch.equal(loaded["model"][k], v) for k, v in state["model"].items())
    assert list(loaded["optimizer"]["state"]) == [0, 1, 2, 3]
