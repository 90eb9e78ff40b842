"""Which published weights load whole: every source of ``attnzoo list --pretrained``, checked.

    OMP_NUM_THREADS=1 python scripts/pretrained_sources.py [--input-size 64] [PATTERN ...]

For each architecture (its tags share it) that attnzoo can build, the source library's own model
(timm's or torchvision's, random weights and BatchNorm statistics, eval mode) is written into a
temporary Hugging Face cache / ``TORCH_HOME`` as that library would store it, loaded with
``create_model(..., pretrained=SOURCE)`` through the call ``list --pretrained`` prints, and the
logits of both are compared. Prints a markdown table: the largest |difference| of the logits and
whether the report says whole (nothing left fresh, nothing ignored). No network access.
"""

from __future__ import annotations

import argparse
import fnmatch
import os
import tempfile

import torch

from attnzoo import create_model
from attnzoo.models.catalog import Recipe, published_sources, recipe
from attnzoo.models.sources import cache_weights


def randomized(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Random BatchNorm scales and variances (in [0.5, 1.5]), shifts, means and biases (in
    [-0.1, 0.1]); convolutions and linear layers keep their random initialisation. No tensor is
    zero (timm zero-initialises each block's last BN scale), so a misplaced one shows."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point() or tensor.dim() > 1:
                continue
            noise = torch.rand(tensor.shape, generator=generator)
            if name.endswith(("running_var", "weight")):
                tensor.copy_(noise + 0.5)
            else:
                tensor.copy_((noise - 0.5) * 0.2)
    return model.eval()


def reference(source: str) -> torch.nn.Module:
    library, _, name = source.partition(":")
    if library == "timm":
        import timm

        return timm.create_model(name, pretrained=False)
    import torchvision

    return torchvision.models.get_model(name.partition(".")[0])


def check(source: str, how: Recipe, size: int) -> tuple[float, float, bool]:
    ref = randomized(reference(source))
    cache_weights(source, ref.state_dict())
    model = create_model(how.model, ref.num_classes if hasattr(ref, "num_classes") else None,
                         pretrained=source, **how.kwargs()).eval()  # fmt: skip
    x = torch.randn(2, 3, size, size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = ref(x)
        diff = (model(x) - logits).abs().max().item()
    return diff, logits.abs().max().item(), model.pretrained_report.whole


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("patterns", nargs="*", default=["*"])
    parser.add_argument("--input-size", type=int, default=64)
    args = parser.parse_args()
    root = tempfile.mkdtemp()
    os.environ.update(HF_HUB_CACHE=f"{root}/hf", TORCH_HOME=f"{root}/torch", HF_HUB_OFFLINE="1")
    seen = set()
    print("| source | create_model | max abs logit | max abs diff | whole |")
    print("|---|---|---|---|---|")
    for source in published_sources():
        how = recipe(source)
        arch = source.partition(".")[0]
        if not isinstance(how, Recipe) or arch in seen:
            continue
        if not any(fnmatch.fnmatchcase(source, f"*{p}*") for p in args.patterns):
            continue
        seen.add(arch)
        diff, scale, whole = check(source, how, args.input_size)
        call, mark = how.call(source), "yes" if whole else "NO"
        print(f"| {arch} | `{call}` | {scale:.2g} | {diff:.1e} | {mark} |", flush=True)


if __name__ == "__main__":
    main()
