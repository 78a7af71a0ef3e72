"""Benchmark tinyconv (and, with --compare torch, PyTorch) on VGG16, VGG19 and AlexNet; JSON out.

The same tool as `tinyconv bench`, runnable from a source checkout without installing:

    python tools/bench.py --compare torch --repeats 15 -o bench.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinyconv.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
