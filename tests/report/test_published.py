import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

from attnzoo import list_attention, list_models
from attnzoo.attention import AttentionModule, get_attention_class
from attnzoo.benchmarks.paper import PUBLISHED as PUBLISHED_COSTS
from attnzoo.engine.config import TrainConfig
from attnzoo.engine.config_files import packaged_configs
from attnzoo.engine.detection import STATS
from attnzoo.engine.task import get_task
from attnzoo.report import published_errors, published_table, published_tables
from attnzoo.report.published import ERRORS, PUBLISHED

REPO = Path(__file__).resolve().parents[2]
PAPERS = REPO.parent / "shared" / "papers"
# A sentence only each paper's text has (the BA2M seed 001 is an abstract without tables).
PAPER_MARKERS = {
    "BA2M": "BM: A Batch Aware Attention Module",
    "SPEM": "Mix-Pooling Strategy for Attention Mechanism",
    "CBAM": "Table 4: **Classification results on ImageNet-1K.**",
}
TABLES = yaml.safe_load(PUBLISHED.read_text())
# The names the detection tasks' summaries give their metrics: COCOeval's, and the VOC
# evaluator's (area and VOC07 11-point mAP at IoU 0.5, recall).
DETECTION_METRICS = {f"{k}_{n}" for k in ("box", "mask") for n in STATS} | {
    "voc_map",
    "voc_map07",
    "voc_recall",
}


def paper_lines(paper: str) -> list[str]:
    if not PAPERS.is_dir():
        pytest.skip(f"the papers' text is not at {PAPERS}")
    [text] = [t for p in PAPERS.glob("*.txt") if PAPER_MARKERS[paper] in (t := p.read_text())]
    return text.splitlines()


def numbers(line: str) -> list[float]:
    """The decimals of a table line, leaving out parenthesised ones: "(-0.98)", "(widen=1.5)"."""
    return [float(x) for x in re.findall(r"\d+\.\d+", re.sub(r"\([^)]*\)", "", line))]


def test_lookup():
    assert published_errors("BA2M Table XI")[("resnext29_8x64d", "ba2m")] == (16.10, None)
    assert published_errors("BA2M Table VI")[("resnet50_cifar", "se+ba2m")] == (17.52, None)
    assert published_errors("BA2M Table XII")[("resnext50_32x4d", "ba2m")] == (20.98, 5.85)
    assert published_errors("CBAM Table 4")[("resnet50", "none")] == (24.56, 7.50)
    # SPEM prints accuracy: 100 - 94.80.
    assert published_errors("SPEM Table 1")[("resnet164", "spem")] == (5.20, None)
    # Sweep configs name tables by short id; the BAM rows of the BAM/CBAM recipe are BA2M's.
    assert published_errors("ba2m-table11") == published_errors("BA2M Table XI")
    assert published_errors("cbam-imagenet")[("resnet101", "bam")] == (22.44, 6.29)
    with pytest.raises(
        ValueError, match=r"table 'BA2M Table 11'; known: ba2m-table5 \(BA2M Table V\)"
    ):
        published_errors("BA2M Table 11")


def test_detection_lookup():
    table = published_table("BA2M Table XIV")
    assert (table.id, table.task, table.metrics[0]) == ("ba2m-table14", "detection", "box_ap")
    two_x = {"detector": "faster_rcnn", "epochs": 24}
    assert table.find("resnet50", "ba2m", two_x).values["box_ap75"] == 41.90
    assert table.find("resnet101", "none", two_x).values["box_ap_l"] == 52.10
    assert table.find("resnet50", "ba2m", two_x | {"epochs": 12}) is None  # the paper's are 2x
    assert published_table("ba2m-table16").find("resnet50", "none", two_x).values == dict(
        mask_ap=34.80, mask_ap50=56.10, mask_ap75=36.90, mask_ap_s=16.10, mask_ap_m=37.20,
        mask_ap_l=52.90,
    )  # fmt: skip
    # Table IV's two baselines differ in OHEM; a run without the key counts as ohem: false.
    ohem = published_table("ba2m-table4")
    assert ohem.find("resnet50", "none", {"detector": "faster_rcnn"}).values["voc_map07"] == 80.10
    found = ohem.find("resnet50", "none", {"detector": "faster_rcnn", "ohem": True})
    assert (found.label, found.values) == ("OHEM", {"voc_recall": 90.57, "voc_map07": 80.50})
    assert ohem.find("resnet50", "none", {"detector": "retinanet"}) is None
    focal = published_table("ba2m-table3")
    assert focal.find("resnet50", "ba2m", {"detector": "retinanet"}) is None  # BM's is softmax
    row = focal.find("resnet50", "ba2m", {"detector": "retinanet", "cls_loss": "softmax"})
    assert row.values["voc_recall"] == 97.12
    with pytest.raises(ValueError, match=r"ba2m-table14 reports box_ap, box_ap50, .* not top-1"):
        published_errors("ba2m-table14")


def test_names_are_attnzoo_names():
    """Models, modules, tasks, config keys and metric names of every row are attnzoo's, each row
    is one run's: no two rows of a table match the same model, attention and config."""
    assert len(set(published_tables())) == len({t["table"] for t in TABLES}) == len(TABLES)
    cost_tables = {t["table"] for t in yaml.safe_load(PUBLISHED_COSTS.read_text())}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    for entry in TABLES:
        table = published_table(entry["id"])
        if entry["reported"] != "metrics":  # the detection tables print no params or FLOPs
            assert {r.get("source", table.table) for r in entry["rows"]} <= cost_tables
        assert set(table.metrics) <= (
            set(ERRORS) if table.task == "classification" else DETECTION_METRICS
        )
        keys = [(r.model, r.attention, json.dumps(r.config, sort_keys=True)) for r in table.rows]
        assert len(set(keys)) == len(keys), table.table
        for raw, row in zip(entry["rows"], table.rows, strict=True):
            assert row.model in list_models()
            assert row.attention == "none" or set(row.attention.split("+")) <= set(list_attention())
            if entry["reported"] == "metrics":  # no figure under a name no metric has
                assert set(raw) - {"label", "model", "attention", "config", "note"} == set(
                    table.metrics
                )
            # Keys TrainConfig lacks yet (cls_loss, ohem) must say what their absence means.
            assert set(row.config) <= fields | set(table.defaults), row.label
            known = {k: v for k, v in row.config.items() if k in fields}
            config = TrainConfig.from_dict(dict(task=table.task, model=row.model, **known))
            get_task(table.task).check(config)


def test_sweep_configs_name_known_tables():
    files = [p for p in packaged_configs().iterdir() if p.name.endswith(".yaml")]
    configs = [yaml.safe_load(p.read_text()) for p in files]
    named = [c["sweep"]["published"] for c in configs if "published" in c.get("sweep", {})]
    assert named, "no sweep config names a published table"
    for table in named:
        published_table(table)


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t["id"])
def test_every_figure_is_on_a_line_of_the_paper_in_table_order(table):
    sources: dict[str, list[dict]] = {}
    for row in table["rows"]:
        sources.setdefault(row.get("source", table["table"]), []).append(row)
    for source, rows in sources.items():
        lines = paper_lines(source.split()[0])
        at = 0  # not advanced past a match: Table V prints ResNet-50 and -101 on one line
        for row in rows:
            if table["reported"] == "metrics":
                want = [row[m] for m in table["metrics"]]
            else:
                want = [row["top1"]] + ([] if row["top5"] is None else [row["top5"]])
            while at < len(lines) and not _runs_of(numbers(lines[at]), want):
                at += 1
            assert at < len(lines), f"{row['label']}: {want} not found after the previous row"


def _runs_of(values: list[float], want: list[float]) -> bool:
    return any(values[i : i + len(want)] == want for i in range(len(values)))


@pytest.mark.parametrize(
    ("paper", "prefix", "table", "key"),
    [
        ("CBAM", "ResNet50 [5] + CBAM\t", "CBAM Table 4", ("resnet50", "cbam")),
        ("BA2M", "+BM (ours) | 34.78 |", "BA2M Table XI", ("resnext29_8x64d", "ba2m")),
        ("BA2M", "SKNet-101 [4] |", "BA2M Table XII", ("sknet101", "none")),
        (
            "SPEM",
            "| ResNet326 + SPEM(ours) | CIFAR100 |",
            "SPEM Table 2 (CIFAR-100)",
            ("resnet326", "spem"),
        ),
    ],
)
def test_entries_as_the_paper_prints_them(paper, prefix, table, key):
    line = next(line for line in paper_lines(paper) if line.startswith(prefix))
    if paper == "SPEM":  # params, then top-1 accuracy
        printed = [round(100 - numbers(line)[1], 2), None]
    else:  # params, FLOPs, then top-1 and top-5 error ("-" or no column: none)
        printed = [*numbers(line)[2:], None][:2]
    assert published_errors(table)[key] == tuple(printed)


@pytest.mark.parametrize(
    ("prefix", "table", "model", "attention"),
    [
        ("Faster R-CNN | ResNet-101 w BM |", "ba2m-table14", "resnet101", "ba2m"),
        ("Mask R-CNN | ResNet-50 w BM | 39.80", "ba2m-table15", "resnet50", "ba2m"),
        ("Mask R-CNN | ResNet-101 | 36.50", "ba2m-table16", "resnet101", "none"),
    ],
)
def test_detection_entries_as_the_paper_prints_them(prefix, table, model, attention):
    line = next(line for line in paper_lines("BA2M") if line.startswith(prefix))
    row = published_table(table).find(model, attention, {"detector": "faster_rcnn", "epochs": 24})
    assert list(row.values.values()) == numbers(line)


def test_every_detection_row_builds_its_detector():
    """Each detection row's network is one attnzoo builds: the task's detector over the row's
    backbone and attention, with the table's config (keys TrainConfig lacks yet left out)."""
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    built = set()
    for table in map(published_table, published_tables()):
        if table.task == "classification":
            continue
        for row in table.rows:
            known = {k: v for k, v in row.config.items() if k in fields}
            values = dict(task=table.task, model=row.model, attention=row.attention, **known)
            config = TrainConfig.from_dict(values)
            key = (table.task, row.model, row.attention, config.detector)  # one network
            if key not in built:
                built.add(key)
                info = {"classes": ["a", "b"], "in_chans": 3, "mean": [0.5] * 3, "std": [0.5] * 3}
                detector = get_task(table.task).build_model(config, info)
                found = {type(m) for m in detector.modules() if isinstance(m, AttentionModule)}
                want = set() if row.attention == "none" else {get_attention_class(row.attention)}
                assert found == want, key
    assert len(built) == 10  # Faster and Mask R-CNN R-50/101 and RetinaNet R-50, +-BA2M
