"""Write the built-in model (tinyconv/data/convnetjs_cifar.h5) from a trained convnetjs_cifar
weight file, as float16, and report the top-1 of the written file on the CIFAR-10 test images.

    python tools/make_builtin_model.py TRAINED.h5 [--test ../shared/assets/images/cifar10/test]

TRAINED.h5 is what `tinyconv train --model convnetjs_cifar ...` wrote (docs/training.md gives
the recipe). The accuracy is measured on the file as shipped (float16 weights), not on the
float32 original.
"""
import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tinyconv import builtin, load_model  # noqa: E402
from tinyconv.training.data import from_folder  # noqa: E402
from tinyconv.training.loop import evaluate  # noqa: E402
from tinyconv.weights.format import WeightFile, sha256_of, write_weights  # noqa: E402

ASSETS = Path(os.environ.get("TINYCONV_ASSETS", "../shared/assets"))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("trained", help="convnetjs_cifar weight file written by tinyconv train")
    parser.add_argument("--test", default=str(ASSETS / "images/cifar10/test"),
                        help="CIFAR-10 test folder (one subfolder per class)")
    parser.add_argument("-o", "--output", default=str(builtin.weights_path()))
    args = parser.parse_args()
    model = load_model(args.trained)
    if model.arch != builtin.ARCHITECTURE:
        sys.exit(f"{args.trained} holds {model.arch}, not {builtin.ARCHITECTURE}")
    wf = WeightFile(model.arch, model.state_dict(), model.preprocessing, labels=model.labels,
                    num_classes=model.num_classes,
                    source_file=f"tinyconv train ({Path(args.trained).name})",
                    source_sha256=sha256_of(args.trained))
    write_weights(args.output, wf, dtype="float16")
    shipped = load_model(args.output)
    size = Path(args.output).stat().st_size
    print(f"wrote {args.output}: {size} bytes, float16 weights")
    test = from_folder(args.test, size=shipped.preprocessing.input_size)
    for name, m in (("trained (float32)", model), ("shipped (float16)", shipped)):
        print(f"{name}: top-1 {evaluate(m, test):.2%} on {len(test)} test images")
    worst = max(float(np.max(np.abs(shipped.state_dict()[k] - v)))
                for k, v in model.state_dict().items())
    print(f"largest weight change by float16 rounding: {worst:.3g}")


if __name__ == "__main__":
    main()
