"""Write tests/data/legacy_state_dict.pth with PyTorch's legacy (pre-1.6, non-zip) serializer.

The official torchvision VGG and AlexNet files use this format; tinyconv reads it without
PyTorch, and tests/test_weights.py checks the values below. Needs torch; run once:

    python tools/make_legacy_pth_fixture.py
"""
from collections import OrderedDict
from pathlib import Path

import torch

OUT = Path(__file__).resolve().parent.parent / "tests" / "data" / "legacy_state_dict.pth"


def main():
    grid = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    state = OrderedDict([
        ("conv.weight", torch.arange(54, dtype=torch.float32).reshape(2, 3, 3, 3) / 10),
        ("conv.bias", torch.tensor([0.5, -1.5], dtype=torch.float16)),
        ("view.weight", grid[:, 1:4].t()),  # non-contiguous view sharing a storage
        ("bn.num_batches_tracked", torch.tensor(7)),
    ])
    OUT.parent.mkdir(exist_ok=True)
    torch.save(state, OUT, _use_new_zipfile_serialization=False)
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
