"""Write tests/data/torchvision_parity/<arch>.npz for DenseNet-121/169/201 and GoogLeNet: what
torchvision computes, for tests that run without torch (tests/test_torchvision_concat.py).

Each file holds, for torchvision's model with the values of tests/parity_rule.py (seed SEED):
  keys, shapes        the state_dict's key names (newline-joined) and shapes (flat, with ndims)
  logits, grad        float64 logits of the INPUT_SHAPE input, and the float64 gradient of class
                      CLASS's score with respect to that input
  torch_f32_error     max |float32 logits - float64 logits| / max |float64 logits| in torch
  modules, module_shapes   every named module's output shape at (1, 3, 224, 224)
GoogLeNet is built as its pretrained weights are used: transform_input=True (fed an
ImageNet-normalized input; the gradient is with respect to that input) and with its auxiliary
classifiers, whose keys the file lists. Needs torch and torchvision; run once:

    /tmp/tvvenv/bin/python tools/make_torchvision_parity_concat.py [ARCH ...]
"""
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from parity_rule import parity_input, parity_state  # noqa: E402  (the rule the tests share)

OUT = ROOT / "tests" / "data" / "torchvision_parity"
ARCHS = ("densenet121", "densenet169", "densenet201", "googlenet")
SEED, CLASS = 0, 3
INPUT_SHAPE = (1, 3, 48, 40)  # odd sizes deep down: floor avg pools, ceil max pools at work


def build(arch):
    if arch == "googlenet":
        return torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=True,
                                            init_weights=False)
    return getattr(torchvision.models, arch)(weights=None)


def module_shapes(model):
    """{module name: output shape} at (1, 3, 224, 224), every named module but the root."""
    shapes, handles = {}, []

    def hook(name):
        def keep(module, inputs, output):  # returns None: the output stays as it is
            shapes.setdefault(name, tuple(output.shape))
        return keep

    for name, module in model.named_modules():
        if name and not name.startswith(("aux1", "aux2")):
            handles.append(module.register_forward_hook(hook(name)))
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224))
    for h in handles:
        h.remove()
    return shapes


def record(arch):
    model = build(arch).eval()
    sd = model.state_dict()
    keys, shapes = list(sd), [tuple(v.shape) for v in sd.values()]
    state = parity_state(keys, shapes, SEED)
    missing = model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()},
                                    strict=False).missing_keys
    assert all(k.endswith("num_batches_tracked") for k in missing), missing
    x = torch.from_numpy(parity_input(INPUT_SHAPE, SEED)).requires_grad_(True)
    model.double()
    logits = model(x)
    logits[0, CLASS].backward()
    logits64 = logits.detach().numpy()
    model.float()
    with torch.no_grad():
        logits32 = model(x.detach().float()).double().numpy()
    error = np.abs(logits32 - logits64).max() / np.abs(logits64).max()
    modules = module_shapes(model)
    path = OUT / f"{arch}.npz"
    np.savez_compressed(
        path, keys=np.array("\n".join(keys)), ndims=np.array([len(s) for s in shapes]),
        shapes=np.array([d for s in shapes for d in s], dtype=np.int64),
        input_shape=np.array(INPUT_SHAPE), seed=SEED, cls=CLASS, logits=logits64,
        grad=x.grad.numpy(), torch_f32_error=error, modules=np.array("\n".join(modules)),
        module_ndims=np.array([len(s) for s in modules.values()]),
        module_shapes=np.array([d for s in modules.values() for d in s], dtype=np.int64))
    print(f"{arch}: logits max {np.abs(logits64).max():.3g}, torch float32 error {error:.2e}, "
          f"{len(keys)} keys, {len(modules)} modules -> {path} ({path.stat().st_size} bytes)")


def main(archs):
    torch.set_num_threads(2)
    OUT.mkdir(parents=True, exist_ok=True)
    for arch in archs or ARCHS:
        record(arch)


if __name__ == "__main__":
    main(sys.argv[1:])
