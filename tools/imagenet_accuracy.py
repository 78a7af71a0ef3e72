"""Top-1 / top-5 accuracy of a tinyconv weight file on a folder of <wnid>_<name>.JPEG images.

    python tools/imagenet_accuracy.py squeezenet1_1.h5 ../shared/assets/images/imagenet_samples \
        ../shared/assets/labels/imagenet_class_index.json

Each image: short side to 256 with Pillow's bilinear filter, centre crop 224 (the model's
preprocessing), batches of 50. Prints accuracies, counts and seconds as JSON.
"""
import json
import sys
import time
from pathlib import Path

import numpy as np

from tinyconv import load_model
from tinyconv.image import list_images, load_image


def evaluate(weights, folder, class_index, batch_size=50):
    wnids = {v[0]: int(k) for k, v in json.loads(Path(class_index).read_text()).items()}
    model = load_model(weights)
    paths = list_images([folder])
    targets = np.array([wnids[p.name.split("_")[0]] for p in paths])
    start = time.perf_counter()
    top5 = []
    for i in range(0, len(paths), batch_size):
        images = [load_image(p) for p in paths[i:i + batch_size]]
        probs = model.predict(images, batch_size=batch_size)
        top5.append(np.argsort(-probs, axis=1)[:, :5])
    top5 = np.concatenate(top5)
    seconds = time.perf_counter() - start
    return {"images": len(paths), "top1": float(np.mean(top5[:, 0] == targets)),
            "top5": float(np.mean((top5 == targets[:, None]).any(axis=1))),
            "seconds": round(seconds, 1)}


if __name__ == "__main__":
    print(json.dumps(evaluate(*sys.argv[1:4])))
