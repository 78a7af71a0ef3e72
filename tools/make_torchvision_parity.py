"""Write tests/data/torchvision_parity/<arch>.npz: what torchvision computes for the weights of
tests/parity_weights.py, for tests/test_torchvision_parity.py to check tinyconv against without
torch. Needs torch and torchvision:

    /tmp/tvvenv/bin/python tools/make_torchvision_parity.py [arch ...]

GoogLeNet is built as its pretrained weights are used: transform_input=True (fed an
ImageNet-normalized input; the gradient is with respect to that input) and with its auxiliary
classifiers, whose keys the file lists (the converter drops them; they never run at inference).

Each file holds (meta: one UTF-8 JSON string, compressed):
  keys, shapes     torchvision's state_dict keys in order, and their shapes
  module_shapes    {module name: [output shape per call]} at (1, 3, 224, 224), every named module
  target_class     the class whose score's input gradient is recorded (the top float64 class)
  float32_error    max |float32 logits - float64 logits| / max |float64 logits| in torch
  input_shape, torch_version, torchvision_version
and the float64 arrays logits (1, classes) and input_gradient (INPUT_SHAPE) for parity_input().
"""
import json
import sys
from pathlib import Path

import numpy as np
import torch
import torchvision

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from parity_weights import INPUT_SHAPE, parity_input, parity_state  # noqa: E402

OUT = ROOT / "tests" / "data" / "torchvision_parity"
ARCHS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152", "mobilenet_v2",
         "densenet121", "densenet169", "densenet201", "googlenet")


def build(arch):
    if arch == "googlenet":
        return torchvision.models.googlenet(weights=None, aux_logits=True, transform_input=True,
                                            init_weights=False)
    return getattr(torchvision.models, arch)(weights=None)


def module_shapes(model):
    """{module name: [output shape of each call]} at (1, 3, 224, 224), float32."""
    shapes, handles = {}, []
    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(
                lambda m, i, o, name=name: shapes.setdefault(name, []).append(list(o.shape))))
    with torch.no_grad():
        model.float()(torch.zeros(1, 3, 224, 224))
    for h in handles:
        h.remove()
    return shapes


def record(arch):
    model = build(arch).eval().double()  # before loading: float64 values kept
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    state = parity_state(shapes)
    model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
    x = torch.from_numpy(parity_input()).requires_grad_(True)
    logits = model(x)
    target = int(logits.argmax())
    logits[0, target].backward()
    ref = logits.detach().numpy()
    with torch.no_grad():
        f32 = model.float()(x.detach().float()).double().numpy()
    error = float(np.abs(f32 - ref).max() / np.abs(ref).max())
    meta = dict(arch=arch, keys=list(shapes), shapes=[list(s) for s in shapes.values()],
                module_shapes=module_shapes(model), target_class=target, float32_error=error,
                input_shape=list(INPUT_SHAPE), torch_version=torch.__version__,
                torchvision_version=torchvision.__version__)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"{arch}.npz"
    meta = json.dumps(meta, separators=(",", ":")).encode()  # bytes: a str array is UTF-32
    np.savez_compressed(path, meta=np.array(meta), logits=ref,
                        input_gradient=x.grad.numpy())
    print(f"{path.name}: {path.stat().st_size} bytes, |logits| max {np.abs(ref).max():.3g}, "
          f"float32 error {error:.3g}, class {target}")


def main(archs):
    torch.set_num_threads(2)
    for arch in archs or ARCHS:
        record(arch)


if __name__ == "__main__":
    main(sys.argv[1:])
