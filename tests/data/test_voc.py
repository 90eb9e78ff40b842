"""Pascal VOC in its official layout: the devkit's XML, MMDetection's coordinates, difficult
objects, the built-in names and the one-line message of a missing set."""

import numpy as np
import pytest
import torch
from tests.data.formats import write_voc_image

from attnzoo.data.coco import DetectionLoader
from attnzoo.data.dataset import DatasetError
from attnzoo.data.voc import CLASSES, VocDetection, find_voc, is_voc, parse_annotation

# The devkit's class order (VOCdevkit/VOCcode/VOCinit.m), written out here as the reference.
DEVKIT_CLASSES = [
    "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
    "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
    "tvmonitor",
]  # fmt: skip


def picture(height: int, width: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


@pytest.fixture
def devkit(tmp_path):
    """VOC2007 with trainval (two images, one all difficult) and test (one without objects);
    VOC2012 with trainval (one image)."""
    root = tmp_path / "VOCdevkit"
    v07, v12 = root / "VOC2007", root / "VOC2012"
    cat_and_dog = [("cat", (1, 2, 10, 20), False), ("dog", (5, 6, 30, 24), True)]
    write_voc_image(v07, "000001", picture(24, 32, 0), cat_and_dog, ["trainval", "train"])
    write_voc_image(
        v07, "000002", picture(20, 20, 1), [("tvmonitor", (3, 3, 9, 9), True)], ["trainval", "val"]
    )
    write_voc_image(v07, "000003", picture(16, 18, 2), [], ["test"])
    write_voc_image(v07, "000004", picture(16, 18, 3), [("person", (2, 2, 8, 8), False)], ["test"])
    write_voc_image(
        v12,
        "2008_000001",
        picture(30, 25, 4),
        [("aeroplane", (1, 1, 25, 30), False)],
        ["trainval", "val"],
    )
    return root


def test_classes_are_the_devkits_in_its_order():
    assert list(CLASSES) == DEVKIT_CLASSES


def test_xml_boxes_labels_and_difficult_flags(devkit):
    objects = parse_annotation(devkit / "VOC2007" / "Annotations" / "000001.xml")
    # MMDetection: each 1-based corner minus one
    assert objects.boxes.tolist() == [[0, 1, 9, 19], [4, 5, 29, 23]]
    assert objects.labels.tolist() == [
        DEVKIT_CLASSES.index("cat") + 1,
        DEVKIT_CLASSES.index("dog") + 1,
    ]
    assert objects.difficult.tolist() == [False, True]


def test_training_targets_leave_out_difficult_objects_and_keep_the_images(devkit):
    dataset = VocDetection(find_voc(devkit, "train"), train=True)  # VOC2007 + VOC2012 trainval
    assert [p.stem for p in dataset.paths] == ["000001", "000002", "2008_000001"]
    image, target = dataset[0]
    assert image.dtype == torch.uint8 and image.shape == (3, 24, 32)
    assert target["boxes"].tolist() == [[0, 1, 9, 19]] and target["labels"].tolist() == [8]
    assert int(target["image_id"]) == 0
    _, all_difficult = dataset[1]  # kept as MMDetection does, with nothing to learn
    assert all_difficult["boxes"].shape == (0, 4) and all_difficult["labels"].shape == (0,)
    assert dataset.objects[1].difficult.tolist() == [True]  # kept for the evaluation
    loader = DetectionLoader(dataset, 3, shuffle=False, drop_last=False, flip=True, seed=1)
    loader.set_epoch(0)
    images, _ = next(iter(loader))
    assert len(images) == 3 and images[2].shape == (3, 30, 25)


def test_aspect_ratios_come_from_the_annotations_or_else_the_image_headers(devkit):
    dataset = VocDetection(find_voc(devkit, "train"), train=True)
    assert dataset.aspect_ratios() == [32 / 24, 20 / 20, 25 / 30]
    xml = devkit / "VOC2012" / "Annotations" / "2008_000001.xml"
    text = xml.read_text()
    xml.write_text(text[: text.index("<size>")] + text[text.index("</size>") + 7 :])
    assert VocDetection(find_voc(devkit, "train"), train=True).aspect_ratios()[2] == 25 / 30


def test_the_test_split_keeps_images_without_objects(devkit):
    test = VocDetection(find_voc(devkit, "test"), train=False)
    assert [p.stem for p in test.paths] == ["000003", "000004"]
    assert test[0][1]["boxes"].shape == (0, 4)
    train = VocDetection(find_voc(devkit, "VOC2007/test"), train=True)
    assert [p.stem for p in train.paths] == ["000004"]


def test_built_in_names_use_the_data_directories(devkit, monkeypatch):
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(devkit.parent))
    assert is_voc("voc0712") and is_voc("voc2007") and is_voc(devkit)
    assert not is_voc(devkit / "VOC2007") and not is_voc("coco")
    assert find_voc("voc0712", "train") == [
        (devkit / "VOC2007", "trainval"),
        (devkit / "VOC2012", "trainval"),
    ]
    assert find_voc("voc2007", "train") == [(devkit / "VOC2007", "trainval")]
    assert (
        find_voc("voc0712", "test") == find_voc("voc2007", "test") == [(devkit / "VOC2007", "test")]
    )
    assert find_voc(devkit, "VOC2012/val") == [(devkit / "VOC2012", "val")]


def test_a_missing_set_is_one_line_naming_the_places(tmp_path, monkeypatch):
    monkeypatch.setenv("ATTNZOO_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError) as err:
        find_voc("voc0712", "train")
    message = str(err.value)
    assert "\n" not in message and "http://host.robots.ox.ac.uk/pascal/VOC/" in message
    assert "VOC2012/ImageSets/Main/trainval.txt" in message
    assert str(tmp_path / "nowhere" / "VOCdevkit") in message
    with pytest.raises(DatasetError, match="expected train, test or VOC<year>/<set>"):
        find_voc("voc0712", "val")


def test_a_malformed_annotation_is_one_line(devkit):
    path = devkit / "VOC2007" / "Annotations" / "000001.xml"
    path.write_text(path.read_text().replace("<name>cat</name>", "<name>kitten</name>"))
    with pytest.raises(
        DatasetError, match=r"000001.xml: not a VOC annotation \(unknown class 'kitten'\)$"
    ):
        parse_annotation(path)
    path.write_text("<annotation><object>")
    with pytest.raises(DatasetError, match=r"000001\.xml: not a VOC annotation") as err:
        parse_annotation(path)
    assert "\n" not in str(err.value)
