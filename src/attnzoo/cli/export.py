"""``attnzoo export``: a checkpoint's network as ONNX, torch.export or TorchScript, checked."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..validation import AttnzooError


def add_parser(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "export", help="write a checkpoint's network as ONNX, torch.export or TorchScript, checked"
    )
    parser.add_argument("checkpoint", type=Path, help="a .safetensors checkpoint of attnzoo train")
    parser.add_argument(
        "--format",
        default="onnx",
        choices=("onnx", "export", "torchscript"),
        help="onnx; export: a torch.export program (.pt2), for networks ONNX cannot express "
        "(BA2M with eval_mode=batch); torchscript: traced, deprecated by torch [onnx]",
    )
    parser.add_argument("--output", type=Path, help="default: the checkpoint, suffix of the format")
    parser.add_argument(
        "--input-size", type=int, help="image height and width (default: the run's, else 32)"
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        default=4,
        help="random images the export is checked on; its batch axis is dynamic [4]",
    )
    parser.add_argument("--no-verify", action="store_true", help="skip the check against PyTorch")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import torch

    from ..engine import load_checkpoint
    from ..engine.evaluate import model_from_checkpoint
    from ..export import SUFFIXES, export, tolerance, verify

    for flag, value in (("--input-size", args.input_size), ("--batch-size", args.batch_size)):
        if value is not None and value < 1:
            raise AttnzooError(f"{flag} must be at least 1, got {value}")
    output = args.output or args.checkpoint.with_suffix(SUFFIXES[args.format])
    if output.is_dir():
        raise AttnzooError(f"--output {output} is a directory; give a file name")
    state = load_checkpoint(args.checkpoint)
    model = model_from_checkpoint(state, args.checkpoint)
    info = state["data"]
    size = args.input_size or info.get("image_size", 32)  # older runs store no size
    shape = (info["in_chans"], size, size)
    path = export(model, output, shape, args.format)
    if args.no_verify:
        print(path)
        return 0
    images = torch.randn(args.batch_size, *shape, generator=torch.Generator().manual_seed(0))
    diff = verify(model, path, images, args.format)
    print(f"{path}  max abs diff {diff:.2e} from PyTorch on {args.batch_size} random images")
    if diff > (limit := tolerance(model, images)):
        raise AttnzooError(f"{path} differs from the PyTorch model by {diff:.2e} > {limit:.2e}")
    return 0
