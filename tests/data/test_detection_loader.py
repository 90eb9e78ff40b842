"""The detection loader's batching: aspect-ratio groups, multi-scale sizes and worker processes.

Every choice is a function of (seed, epoch, batch): the ranks' batches together are one process's
global batches, an epoch resumed at any batch continues as the uninterrupted one, and decoding in
worker processes changes nothing.
"""

import bisect
import json

import numpy as np
import pytest
import torch

pytest.importorskip("pycocotools")
from PIL import Image

from attnzoo.data.coco import CocoDetection, DetectionLoader, find_coco
from attnzoo.data.grouping import aspect_ratio_groups
from attnzoo.data.pasted import build_pasted_coco
from attnzoo.models import create_model
from attnzoo.models.detector import TRAIN_SIZE, build_detector
from attnzoo.validation import AttnzooError

# (width, height): ratios 0.5, 0.75, 1, 4/3 and 2, in proportions that leave each group's last
# global batch incomplete.
SHAPES = [(24, 48)] * 5 + [(36, 48)] * 7 + [(40, 40)] * 3 + [(48, 36)] * 6 + [(48, 24)] * 9


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    """A COCO-format training split of 30 images of five aspect ratios, one box each."""
    root = tmp_path_factory.mktemp("varied")
    (root / "train2017").mkdir()
    rng = np.random.default_rng(0)
    images, annotations = [], []
    for i, (w, h) in enumerate(SHAPES):
        name = f"{i:03d}.png"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(
            root / "train2017" / name
        )
        images.append({"id": i + 1, "file_name": name, "width": w, "height": h})
        box = [2, 3, w // 2, h // 2]
        annotations.append(
            {"id": i + 1, "image_id": i + 1, "category_id": 1, "bbox": box, "iscrowd": 0}
        )
    (root / "annotations").mkdir()
    content = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "x"}]}
    (root / "annotations" / "instances_train2017.json").write_text(json.dumps(content))
    return CocoDetection(*find_coco(root, "train2017"), train=True, masks=False)


@pytest.fixture(scope="module")
def pasted(tmp_path_factory):
    root = build_pasted_coco(tmp_path_factory.mktemp("pasted") / "set", train=12, test=4, size=48)
    return CocoDetection(*find_coco(root, "train2017"), train=True, masks=True)


def loader(dataset, batch_size=2, **options):
    return DetectionLoader(dataset, batch_size, shuffle=True, drop_last=True, flip=True, **options)


def ranks(dataset, world_size, **options):
    return [loader(dataset, rank=r, world_size=world_size, **options) for r in range(world_size)]


def epoch(loaders, number, start=0):
    """The global batches of ``number`` from ``start``: the ranks' batches side by side."""
    for each in loaders:
        each.set_epoch(number, start)
    return [
        ([i for images, _ in parts for i in images], [t for _, targets in parts for t in targets])
        for parts in zip(*loaders, strict=True)
    ]


def same(a, b):
    (a_images, a_targets), (b_images, b_targets) = a, b
    return all(torch.equal(x, y) for x, y in zip(a_images, b_images, strict=True)) and all(
        x.keys() == y.keys() and all(torch.equal(x[k], y[k]) for k in x)
        for x, y in zip(a_targets, b_targets, strict=True)
    )


def test_groups_are_torchvisions_bins():
    ratios = [0.3, 0.5, 0.6, 2 ** (-1 / 3), 0.9, 1.0, 1.1, 1.26, 1.5, 2.0, 3.0]
    for factor in (0, 1, 3):
        # torchvision's reference: bins 2 ** linspace(-1, 1, 2k + 1) (k = 0: [1]), bisect_right.
        edges = [2 ** (-1 + 2 * j / (2 * factor)) for j in range(2 * factor + 1)] if factor else [1]
        expected = [bisect.bisect_right(edges, r) for r in ratios]
        assert aspect_ratio_groups(ratios, factor).tolist() == expected
    with pytest.raises(AttnzooError, match="factor must be >= 0"):
        aspect_ratio_groups(ratios, -1)


def test_grouped_batches_are_of_one_group_and_see_each_image_once(varied):
    group = dict(
        zip(varied.ids, aspect_ratio_groups(varied.aspect_ratios(), 3).tolist(), strict=True)
    )
    assert len(set(group.values())) == 5
    for world_size in (1, 2):
        two = ranks(varied, world_size, batch_size=4 // world_size, seed=3, group_factor=3)
        batches = epoch(two, 1)
        seen = [[int(t["image_id"]) for t in targets] for _, targets in batches]
        mixed = [ids for ids in seen if len({group[i] for i in ids}) > 1]
        # Only the epoch's last batches, of the groups' leftovers, mix groups: fewer than groups.
        assert len(mixed) < 5 and seen[len(seen) - len(mixed) :] == mixed
        assert len(batches) == 30 // 4 and len(mixed) < len(seen) // 2
        flat = [i for ids in seen for i in ids]
        assert len(flat) == len(set(flat)) == 28  # each once; 2 left out, as without grouping
        for images, targets in batches:  # the images are the ones the groups were computed for
            for image, target in zip(images, targets, strict=True):
                ratio = image.shape[-1] / image.shape[-2]
                assert aspect_ratio_groups([ratio], 3).item() == group[int(target["image_id"])]
        assert all(same(a, b) for a, b in zip(batches[3:], epoch(two, 1, start=3), strict=True))
        if world_size == 1:
            single = batches
    assert all(same(a, b) for a, b in zip(single, batches, strict=True))  # 2 ranks = 1 process
    assert any(not same(a, b) for a, b in zip(batches, epoch(two, 2), strict=True))


def test_one_group_leaves_the_order_as_without_grouping(pasted):
    plain, grouped = loader(pasted, seed=1), loader(pasted, seed=1, group_factor=3)
    assert all(same(a, b) for a, b in zip(epoch([plain], 0), epoch([grouped], 0), strict=True))
    with pytest.raises(ValueError, match="shuffled"):
        DetectionLoader(pasted, 2, shuffle=False, drop_last=False, flip=False, group_factor=3)


def test_multi_scale_sizes_are_drawn_per_image_from_seed_epoch_batch(pasted):
    sizes = (32, 48, 64)
    one = epoch(ranks(pasted, 1, batch_size=4, seed=2, train_sizes=sizes), 1)
    two_ranks = ranks(pasted, 2, seed=2, train_sizes=sizes)
    two = epoch(two_ranks, 1)
    assert all(same(a, b) for a, b in zip(one, two, strict=True))
    drawn = [int(t[TRAIN_SIZE]) for _, targets in one for t in targets]
    assert set(drawn) == set(sizes)  # 12 draws: each size comes up
    assert all(same(a, b) for a, b in zip(two[1:], epoch(two_ranks, 1, start=1), strict=True))
    # Drawn after the flips: the images are flipped as without multi-scale.
    plain = epoch(ranks(pasted, 1, batch_size=4, seed=2), 1)
    assert all(
        torch.equal(a, b)
        for x, y in zip(one, plain, strict=True)
        for a, b in zip(x[0], y[0], strict=True)
    )


def test_the_transform_resizes_to_the_drawn_size_without_global_rng():
    net = create_model("resnet18", 1)
    model = build_detector(
        "faster_rcnn",
        net,
        3,
        min_size=48,
        max_size=80,
        fpn_channels=8,
        mean=[0.5] * 3,
        std=[0.5] * 3,
    )
    images = [torch.rand(3, 40, 60), torch.rand(3, 30, 30)]
    box = torch.tensor([[1.0, 2.0, 10.0, 20.0]])
    targets = [
        {"boxes": box, "labels": torch.tensor([1]), TRAIN_SIZE: torch.tensor(64)},
        {"boxes": box, "labels": torch.tensor([1]), TRAIN_SIZE: torch.tensor(32)},
    ]
    model.transform.train()
    state = torch.get_rng_state()
    batch, resized = model.transform(images, targets)
    assert torch.equal(torch.get_rng_state(), state)  # torch_choice's draw is not made
    # 40 x 60 to shorter side 64 would make the longer 96 > max_size 80: 80 / 60 caps it.
    assert batch.image_sizes == [(53, 80), (32, 32)]
    assert torch.allclose(resized[1]["boxes"], box * 32 / 30)
    assert all(TRAIN_SIZE not in t for t in resized) and TRAIN_SIZE in targets[0]
    model.transform.eval()
    assert model.transform(images)[0].image_sizes == [(48, 72), (48, 48)]  # min_size


def test_worker_processes_decode_the_same_batches(pasted):
    options = {"seed": 4, "train_sizes": (32, 48), "group_factor": 0}
    inline = ranks(pasted, 2, **options)
    workers = ranks(pasted, 2, num_workers=2, **options)
    assert all(same(a, b) for a, b in zip(epoch(inline, 1), epoch(workers, 1), strict=True))
    assert all(same(a, b) for a, b in zip(epoch(inline, 2, 1), epoch(workers, 2, 1), strict=True))


def test_iterating_leaves_torchs_global_rng_alone(pasted):
    """The detectors sample anchors and RoIs with torch's global RNG, which checkpoints restore:
    a loader drawing from it too would draw once more in a resumed epoch than in the original."""
    state = torch.get_rng_state()
    for workers in (0, 1):
        epoch([loader(pasted, num_workers=workers, train_sizes=(32,))], 0, start=1)
    assert torch.equal(torch.get_rng_state(), state)
