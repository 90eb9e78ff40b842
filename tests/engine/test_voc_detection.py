"""The detection task on Pascal VOC data: names, VOC metrics as the primary metric, training,
and ``attnzoo eval`` of its checkpoint, on a tiny VOCdevkit written from the pasted CIFAR-10 set."""

import dataclasses
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from tests.data.formats import write_voc_from_pasted
from tests.engine.test_detection import tiny
from tests.engine.test_distributed import free_port

from attnzoo.data.pasted import build_pasted_coco
from attnzoo.data.voc import CLASSES, VocDetection, find_voc
from attnzoo.engine import train
from attnzoo.engine.distributed import World
from attnzoo.engine.evaluate import evaluate_checkpoint
from attnzoo.engine.task import check_config, get_task

pytest.importorskip("pycocotools")  # the pasted set's masks are written with it

NAMES = {"airplane": "aeroplane", "automobile": "car", "frog": "bird"}


@pytest.fixture(scope="module")
def devkit(tmp_path_factory):
    root = tmp_path_factory.mktemp("voc")
    pasted = build_pasted_coco(root / "pasted", train=8, test=4, size=64)
    return write_voc_from_pasted(pasted, root / "data" / "VOCdevkit", NAMES)


def test_built_in_names_pick_their_image_sets(devkit, monkeypatch):
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(devkit.parent))
    world = World(0, 1, torch.device("cpu"))
    task = get_task("detection")
    both = task.build_loaders(tiny(data="voc0712"), world).info
    only07 = task.build_loaders(tiny(data="voc2007"), world).info
    assert (both["train_images"], only07["train_images"], both["test_images"]) == (8, 4, 4)
    assert both["classes"] == list(CLASSES)
    assert task.primary(tiny(data="voc0712")) == "voc_map07"
    assert task.primary(tiny(data="coco")) == "box_ap"


def test_instance_segmentation_refuses_voc_in_one_line():
    with pytest.raises(ValueError, match="is Pascal VOC, which has no instance masks") as err:
        check_config(tiny(task="instance-segmentation", data="voc0712"))
    assert "\n" not in str(err.value)


def test_training_on_voc_reports_voc_metrics_and_eval_reproduces_them(devkit, tmp_path):
    config = tiny(data=str(devkit), epochs=1, out_dir=str(tmp_path / "run"))
    summary = train(config, progress=False)
    assert summary["primary_metric"] == "voc_map07"
    metrics = ("voc_map07", "voc_map", "voc_recall", "voc_class_recall")
    assert all(0 <= summary[m] <= 100 for m in metrics)
    assert "box_ap" not in summary
    again = evaluate_checkpoint(tmp_path / "run" / "checkpoint.safetensors", batch_size=2)
    assert again["images"] == 4
    assert all(again[m] == pytest.approx(summary[m]) for m in metrics)


class Oracle(torch.nn.Module):
    """Returns the test images' own objects (difficult ones too), in the loader's order."""

    def __init__(self, objects) -> None:
        super().__init__()
        self.queue = iter(objects)

    def forward(self, images):
        found = [next(self.queue) for _ in images]
        return [
            {
                "boxes": torch.from_numpy(o.boxes),
                "labels": torch.from_numpy(o.labels),
                "scores": torch.linspace(1, 0.5, len(o.labels)),
            }
            for o in found
        ]


def shifted(objects):
    """Each image's k-th box moved by 4k pixels: the later ones miss."""
    shift = [4 * np.arange(len(o.boxes), dtype=np.float32)[:, None] for o in objects]
    return [dataclasses.replace(o, boxes=o.boxes + d) for o, d in zip(objects, shift, strict=True)]


def evaluate_oracle(devkit, world: World, shift: bool) -> dict:
    """The task's metrics of an oracle on this process's share (eval batch 1: images rank,
    rank + size, ...)."""
    task = get_task("detection")
    loaders = task.build_loaders(tiny(data=str(devkit), eval_batch_size=1), world)
    objects = loaders.test.dataset.objects
    objects = shifted(objects) if shift else objects
    return task.evaluate(Oracle(objects[world.rank :: world.size]), loaders.test, world)


def test_the_task_scores_a_perfect_detector_100(devkit):
    objects = VocDetection(find_voc(devkit, "test"), train=False).objects
    assert any(o.difficult.any() for o in objects) and any((~o.difficult).any() for o in objects)
    metrics = evaluate_oracle(devkit, World(), shift=False)
    assert metrics == {m: pytest.approx(100) for m in metrics} and "voc_map07" in metrics
    missed = evaluate_oracle(devkit, World(), shift=True)
    assert 0 < missed["voc_recall"] < 100 and missed["voc_map07"] < 100


def gloo_worker(rank: int, world: int, port: int, devkit: str, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.set_num_threads(1)
    metrics = evaluate_oracle(Path(devkit), World(rank, world), shift=True)
    (Path(out) / f"rank{rank}.json").write_text(json.dumps(metrics))
    dist.barrier()
    dist.destroy_process_group()


@pytest.mark.skipif(not dist.is_available(), reason="no torch.distributed")
def test_two_processes_gather_their_predictions(devkit, tmp_path):
    mp.spawn(gloo_worker, args=(2, free_port(), str(devkit), str(tmp_path)), nprocs=2, join=True)
    one = evaluate_oracle(devkit, World(), shift=True)
    for rank in range(2):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text()) == pytest.approx(one)
