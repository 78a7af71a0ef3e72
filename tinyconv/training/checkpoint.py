"""Checkpoints: everything a training run needs to continue exactly where it stopped, in one file.

One .npz archive (numpy's zip of arrays, read with allow_pickle=False, so loading one can never
run code), written through tinyconv.atomic.writing, so a crash or Ctrl-C during the write leaves
the previous checkpoint whole:

    meta                a JSON text: format, version, architecture, num_classes, class names,
                        preprocessing, the training settings, the position (epoch, step in the
                        epoch, global step), the running sums of the epoch, the history
    param/<layer.name>  every entry of the model's state dict (buffers such as running
                        statistics included), float32 as trained
    opt/<i>/<key>       optimizer state of parameter i (momentum buffer; Adam's m, v, t)

The random state is not stored as generator internals: every random draw of a run comes from a
generator seeded by (seed, epoch) or (seed, epoch, step) (see tinyconv.training.loop), so the
seed and the position are the whole random state, and the schedule is a function of the step.
"""
import json
from pathlib import Path

import numpy as np

from ..atomic import writing
from ..engine.backend import to_numpy, xp_for
from ..errors import BadInput

FORMAT = "tinyconv-checkpoint"
VERSION = 1


def save_checkpoint(path, meta, state_dict, optimizer_state):
    """Write one checkpoint file atomically. meta: a JSON-able dict; optimizer_state: one dict
    of arrays or numbers per parameter."""
    arrays = {"meta": np.array(json.dumps(dict(meta, format=FORMAT, version=VERSION)))}
    arrays.update({f"param/{key}": value for key, value in state_dict.items()})
    for i, state in enumerate(optimizer_state):
        arrays.update({f"opt/{i}/{key}": to_numpy(value) for key, value in state.items()})
    with writing(path) as tmp, open(tmp, "wb") as f:
        np.savez(f, **arrays)
    return Path(path)


def load_checkpoint(path, parameters):
    """(meta dict, state dict, optimizer state list) of a checkpoint written by save_checkpoint;
    `parameters` is the number of optimizer parameter slots to fill."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            meta = json.loads(str(archive["meta"]))
            arrays = {key: archive[key] for key in archive.files if key != "meta"}
    except (OSError, ValueError, KeyError) as e:
        raise BadInput(f"{path}: not a readable tinyconv checkpoint ({e})") from None
    if meta.get("format") != FORMAT or meta.get("version") != VERSION:
        raise BadInput(f"{path}: not a tinyconv checkpoint of version {VERSION} "
                       f"(format {meta.get('format')!r}, version {meta.get('version')!r})")
    state = {key[6:]: value for key, value in arrays.items() if key.startswith("param/")}
    optimizer = [{} for _ in range(parameters)]
    for key, value in arrays.items():
        if key.startswith("opt/"):
            _, index, name = key.split("/", 2)
            optimizer[int(index)][name] = value.item() if value.ndim == 0 else value
    return meta, state, optimizer


def restore_optimizer(optimizer, saved, device=None):
    """Put saved per-parameter state into `optimizer` (arrays on the parameters' device)."""
    if len(saved) != len(optimizer.state):
        raise BadInput(f"the checkpoint's optimizer has {len(saved)} parameters, this one "
                       f"{len(optimizer.state)}")
    xp = xp_for(device)
    for state, values in zip(optimizer.state, saved):
        state.clear()
        state.update({key: xp.array(v) if isinstance(v, np.ndarray) else v
                      for key, v in values.items()})
