"""What a network computes at step 0 after a backbone load: does each attention module start near
the identity?

    OMP_NUM_THREADS=1 python scripts/pretrained_step0.py [--model resnet18] [--input-size 112]

A torchvision ResNet with random weights and BatchNorm statistics (no network access here, so not
the ImageNet weights: the numbers say what each module does to a trained-like backbone's maps, not
what ImageNet features become) is written into a temporary ``TORCH_HOME`` and loaded into
``create_model(MODEL, attention=MODULE, pretrained="torchvision:MODEL")`` for every module at its
default placement. On a batch of 8 standard-normal images (as normalised images are,
per channel) it prints, per module:

* ``gain``: the mean over the module's instances of ||module(x)|| / ||x|| (1: the identity in size);
* ``rel. change``: ||f - f0|| / ||f0|| of the pooled features f (``pre_logits``) against f0,
  those of the same backbone without attention (0: the loaded network's features are unchanged);
* ``cosine``: the mean cosine similarity of f and f0 per image;

in eval mode (running statistics; BA2M's default ``eval_mode="identity"`` is the identity there),
then the change and cosine in train mode (batch statistics, as the first fine-tuning step sees).
"""

from __future__ import annotations

import argparse
import os
import tempfile

import torch
from pretrained_sources import randomized  # scripts/ is the script's own directory

from attnzoo import create_model, list_attention
from attnzoo.attention import get_attention_class
from attnzoo.models.sources import cache_weights


def gains(model: torch.nn.Module, kind: type, x: torch.Tensor) -> float:
    ratios: list[float] = []

    def hook(_module, inputs, output):
        ratios.append((output.norm() / inputs[0].norm()).item())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, kind)]
    with torch.no_grad():
        model(x)
    for handle in handles:
        handle.remove()
    return sum(ratios) / len(ratios)


def pooled(model: torch.nn.Module, x: torch.Tensor, train: bool) -> torch.Tensor:
    model.train(train)
    with torch.no_grad():
        return model.forward_head(model.forward_features(x), pre_logits=True)


def compare(f: torch.Tensor, f0: torch.Tensor) -> str:
    change = ((f - f0).norm() / f0.norm()).item()
    return f"{change:.3f} | {torch.nn.functional.cosine_similarity(f, f0).mean().item():.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="resnet18")
    parser.add_argument("--input-size", type=int, default=112)
    args = parser.parse_args()
    os.environ["TORCH_HOME"] = tempfile.mkdtemp()
    import torchvision

    source = f"torchvision:{args.model}"
    cache_weights(source, randomized(torchvision.models.get_model(args.model)).state_dict())
    x = torch.randn(
        8, 3, args.input_size, args.input_size, generator=torch.Generator().manual_seed(0)
    )
    plain = create_model(args.model, pretrained=source)
    f0 = {train: pooled(plain, x, train) for train in (False, True)}
    print(
        "| module | placement | gain (eval) | rel. change (eval) | cosine (eval) | rel. change ",
        end="",
    )
    print("(train) | cosine (train) |\n|---|---|---|---|---|---|---|")
    for name in list_attention():
        kind = get_attention_class(name)
        if kind.default_placement == "conv":
            continue  # replaces the block's convolution: that tensor is not loaded at all
        torch.manual_seed(0)
        try:
            model = create_model(args.model, attention=name, pretrained=source).eval()
        except ValueError as err:
            print(f"| {name} | - | not built: {err} | | | | |")
            continue
        gain = gains(model, kind, x)
        evaluated, trained = (compare(pooled(model, x, t), f0[t]) for t in (False, True))
        print(f"| {name} | {kind.default_placement} | {gain:.3f} | {evaluated} | {trained} |")


if __name__ == "__main__":
    main()
