"""Benchmark tinyconv (and, with --compare torch, PyTorch) on VGG16, VGG19 and AlexNet; JSON out.

The same tool as `tinyconv bench`, runnable from a source checkout without installing, and the
one that can run the PyTorch side (tools/bench_torch.py, which the installed package never has):

    python tools/bench.py --compare torch --repeats 15 -o bench.json
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinyconv.cli import main  # noqa: E402

TORCH_RUNNER = Path(__file__).resolve().parent / "bench_torch.py"

if __name__ == "__main__":
    sys.exit(main(["bench", "--torch-runner", str(TORCH_RUNNER), *sys.argv[1:]]))
