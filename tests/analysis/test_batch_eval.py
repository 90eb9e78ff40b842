"""attnzoo batch-eval: BA2M's batch softmax at test time against the identity, per batch size."""

import pytest
import torch

from attnzoo.analysis import batch_softmax_effect
from attnzoo.cli.main import main
from attnzoo.data import load_dataset, normalize
from attnzoo.engine import load_checkpoint
from attnzoo.engine.evaluate import model_from_checkpoint

# One worker trains the session fixture `runs` (conftest.py) for the whole folder.
pytestmark = pytest.mark.xdist_group("analysis")


def whole_test_set_predictions(checkpoint, data, eval_mode):
    """One forward over every test image in file order: the softmax over a batch does not
    depend on the order of its samples, so this is the batch-size-N answer in any order."""
    state = load_checkpoint(checkpoint)
    model = model_from_checkpoint(state, checkpoint, {"ba2m": {"eval_mode": eval_mode}}).eval()
    test = load_dataset(str(data), "test")
    with torch.no_grad():
        logits = model(normalize(test.images, state["data"]["mean"], state["data"]["std"]))
    return logits.argmax(1), test.labels


def test_matches_a_forward_over_the_whole_test_set(runs):
    checkpoint = runs["ba2m"] / "checkpoint.safetensors"
    batch, labels = whole_test_set_predictions(checkpoint, runs["data"], "batch")
    identity, _ = whole_test_set_predictions(checkpoint, runs["data"], "identity")
    n = len(labels)
    rows = batch_softmax_effect(checkpoint, [1, 8, n], data=str(runs["data"]))
    assert [r["batch_size"] for r in rows] == [1, 8, n] and all(r["images"] == n for r in rows)
    whole = rows[-1]
    assert whole["top1_batch"] == pytest.approx(100 * (batch == labels).float().mean().item())
    assert whole["top1_identity"] == pytest.approx(100 * (identity == labels).float().mean())
    assert whole["changed"] == pytest.approx(100 * (batch != identity).float().mean().item())
    # A batch of one gets weight 1: the two modes agree exactly.
    assert rows[0]["changed"] == 0 and rows[0]["top1_batch"] == rows[0]["top1_identity"]
    assert all(r["top1_identity"] == whole["top1_identity"] for r in rows)


def test_refuses_networks_without_ba2m_and_bad_batch_sizes(runs):
    with pytest.raises(ValueError, match="has no BA2M"):
        batch_softmax_effect(runs["none"] / "checkpoint.safetensors")
    with pytest.raises(ValueError, match="batch sizes must be positive"):
        batch_softmax_effect(runs["ba2m"] / "checkpoint.safetensors", [0, 32])


def test_command_prints_and_writes_the_table(runs, tmp_path, capsys):
    out = tmp_path / "claim.md"
    checkpoint = str(runs["ba2m"] / "checkpoint.safetensors")
    assert main(["batch-eval", checkpoint, "--batch-sizes", "1,5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert out.read_text().strip() == printed.strip()
    assert printed.count(checkpoint) == 2 and "| 5 |" in printed
