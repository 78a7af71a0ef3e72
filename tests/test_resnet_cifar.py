"""The CIFAR-10 residual nets (the half-width ResNet-9 and the airbench-shaped fast_resnet_cifar):
their shapes, their residual rows, and one training step (forward and backward in training mode)
that reaches every parameter."""
import numpy as np
import pytest

import tinyconv as tc
from tinyconv import ops, optim
from tinyconv.models import build


def test_output_shapes_and_table():
    model = build("resnet_cifar")
    shapes = model.output_shapes((2, 3, 32, 32))
    assert shapes["prep/relu"] == (2, 64, 32, 32)
    assert shapes["layer1/add"] == (2, 128, 16, 16)
    assert shapes["layer2/pool"] == (2, 256, 8, 8)
    assert shapes["layer3/add"] == (2, 256, 4, 4)
    assert shapes["pool"] == (2, 256, 1, 1) and shapes["fc"] == (2, 10)
    assert model.layers["layer1/add"].inputs == ("layer1/pool", "layer1/res2/relu")
    assert model.preprocessing.input_size == (32, 32) and model.num_classes == 10
    assert sum(p.size for p in model.parameters()) == 2_440_266
    assert build("resnet_cifar", num_classes=100).output_shapes((1, 3, 32, 32))["fc"] == (1, 100)


def test_fast_resnet_shapes_table_and_logit_scale():
    model = build("fast_resnet_cifar")
    shapes = model.output_shapes((2, 3, 32, 32))
    assert shapes["stem/relu"] == (2, 24, 31, 31)
    assert shapes["block1/conv1"] == (2, 64, 31, 31) and shapes["block1/add"] == (2, 64, 15, 15)
    assert shapes["block2/add"] == (2, 256, 7, 7) and shapes["block3/add"] == (2, 256, 3, 3)
    assert shapes["pool"] == (2, 256, 1, 1) and shapes["logits"] == (2, 10)
    assert model.layers["block2/add"].inputs == ("block2/relu1", "block2/relu2")
    assert model.num_classes == 10 and model.output_name == "logits"
    assert sum(p.size for p in model.parameters()) == 1_972_826  # convs 3*24*4 + 9*(24*64 + 64*64 + 64*256 + 3*256*256), BN 2*C, fc 2570
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32)
    out = model.forward(x, layers=["fc", "logits"])
    np.testing.assert_array_equal(out["logits"].numpy(), out["fc"].numpy() * np.float32(1 / 8))


@pytest.mark.parametrize("arch, last_block", [("resnet_cifar", "layer3/add"),
                                              ("fast_resnet_cifar", "block3/add")])
def test_a_training_step_reaches_every_parameter_and_updates_the_statistics(arch, last_block):
    model = build(arch, seed=1).train().requires_grad_(True)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 3, 32, 32), dtype=np.float32)
    labels = np.array([0, 3, 5, 9])
    before = model.state_dict()
    out = model.forward(tc.Tensor(x), layers=[last_block, model.output_name])
    assert out[model.output_name].shape == (4, 10) and out[last_block].shape[:2] == (4, 256)
    loss = ops.cross_entropy(out[model.output_name], labels)
    loss.backward()
    for key, p in model.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, key
        assert np.isfinite(p.grad).all() and np.abs(p.grad).max() > 0, key
    optimizer = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                          weight_decay=5e-4)
    optimizer.step()
    after = model.state_dict()
    for key, _ in model.named_buffers():
        assert not np.array_equal(before[key], after[key]), key  # running statistics moved
    assert not np.array_equal(before["fc.weight"], after["fc.weight"])
    # the same batch again scores lower after the step
    assert ops.cross_entropy(model(tc.Tensor(x)), labels).item() < loss.item()
    # inference: the running statistics, and no change to them
    model.eval()
    frozen = model.state_dict()
    probabilities = model.probabilities(x)
    assert probabilities.shape == (4, 10) and np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    for key, value in model.state_dict().items():
        np.testing.assert_array_equal(value, frozen[key])
