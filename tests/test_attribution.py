"""Gradient attributions on the real SqueezeNet 1.1: integrated gradients' completeness, guided
backprop and deconvnet against a backward masked by hand, Grad-CAM telling the dog from the cat,
saliency on the object; and the small contracts (SmoothGrad without noise, clear errors)."""
import numpy as np
import pytest

from tinyconv import models
from tinyconv.methods.features import model_images
from tinyconv.methods import attribution, objectives
from tinyconv.engine.tensor import Tensor

# hand-drawn boxes (top, bottom, left, right) on cat_dog.png (224 x 224, used as it is)
DOG_BOX = (0, 135, 55, 175)    # the bulldog's head and body, above the cat
CAT_BOX = (140, 224, 0, 224)   # the band the lying cat fills, below the dog's paws


def real_input(model, assets, name, size=None):
    """A content image as the model sees it -> (1, 3, H, W) numpy input."""
    image = model_images(model, [assets / "images" / "content" / name], size)[0]
    return model.preprocess(image, resize=False).data


def box_mask(box, shape=(224, 224)):
    top, bottom, left, right = box
    mask = np.zeros(shape, dtype=bool)
    mask[top:bottom, left:right] = True
    return mask


def test_integrated_gradients_completeness(squeezenet_real, assets):
    # dog.png squeezed to 112 x 112 (SqueezeNet is fully convolutional) keeps the 129 passes
    # affordable; with 128 steps the sum is within 0.1% here (64 steps: 1.5%, 32: 5%)
    model = squeezenet_real
    x = real_input(model, assets, "dog.png", size=112)
    score = objectives.class_score(model, 243)
    attributions = attribution.integrated_gradients(model, x, score, steps=128, batch_size=16)
    difference = (attribution.objective_values(model, x, score)[0]
                  - attribution.objective_values(model, np.zeros_like(x), score)[0])
    assert attributions.shape == x.shape
    total = attributions.sum(dtype=np.float64)
    assert abs(total - difference) <= 0.02 * abs(difference), (total, difference)


def hand_masked_backward(model, x, index, mode):
    """d score[index] / d x computed row by row: every row's backward through the engine on its
    own, except the ReLU rows, whose gradient is masked here from their saved forward outputs
    (guided: output > 0 and gradient > 0; deconvnet: gradient > 0)."""
    acts, local = {"input": Tensor(x)}, {}
    for name, layer in model.layers.items():
        inputs = [Tensor(acts[s].data, requires_grad=True) for s in layer.inputs]
        params = {k: model.params[f"{name}.{k}"] for k in layer.param_shapes()}
        acts[name] = layer(params, *inputs)
        local[name] = inputs
    seed = np.zeros(acts[model.output_name].shape, dtype=x.dtype)
    seed[:, index] = 1.0
    grads = {model.output_name: seed}
    for name in reversed(model.layer_names):
        layer, g = model.layers[name], grads.pop(name)
        if layer.kind == "relu":
            y = acts[name].data
            keep = (g > 0) & (y > 0) if mode == "guided" else (g > 0)
            input_grads = [g * keep]
        else:
            acts[name].backward(g)
            input_grads = [t.grad for t in local[name]]
        for source, grad in zip(layer.inputs, input_grads):
            grads[source] = grads.get(source, 0) + grad  # fire modules: two branches meet
    return grads["input"]


@pytest.mark.parametrize("mode", ["guided", "deconvnet"])
def test_guided_backprop_and_deconvnet_equal_the_hand_masked_backward(squeezenet_real, assets,
                                                                      mode):
    model = squeezenet_real
    x = real_input(model, assets, "dog.png", size=112)
    ours = attribution.input_gradient(model, x, objectives.class_score(model, 243), mode)
    by_hand = hand_masked_backward(model, x, 243, mode)
    plain = attribution.input_gradient(model, x, objectives.class_score(model, 243))
    scale = np.abs(by_hand).max()
    np.testing.assert_allclose(ours, by_hand, atol=1e-5 * scale, rtol=1e-4)
    assert np.abs(plain - by_hand).max() > 0.1 * scale  # the masks did change the gradient


def test_grad_cam_separates_bull_mastiff_and_tiger_cat(squeezenet_real, assets):
    model = squeezenet_real
    x = real_input(model, assets, "cat_dog.png")
    dog, cat = (attribution.grad_cam(model, x, "fire9", objectives.class_score(model, c))[0]
                for c in (243, 282))
    assert dog.shape == cat.shape == (224, 224) and dog.min() >= 0 and cat.min() >= 0
    correlation = np.corrcoef(dog.ravel(), cat.ravel())[0, 1]
    assert correlation < 0.8, correlation

    def share(cam, box):
        return cam[box_mask(box)].sum() / cam.sum()

    # each class's map holds a larger share of its mass on its own animal than the other's map
    assert share(cat, CAT_BOX) > 1.5 * share(dog, CAT_BOX), (share(cat, CAT_BOX),
                                                             share(dog, CAT_BOX))
    assert share(dog, DOG_BOX) > share(cat, DOG_BOX), (share(dog, DOG_BOX), share(cat, DOG_BOX))
    guided = attribution.guided_grad_cam(model, x, "fire9", objectives.class_score(model, 282))
    assert guided.shape == x.shape


@pytest.mark.parametrize("target, box", [(243, DOG_BOX), (282, CAT_BOX)])
def test_saliency_concentrates_on_the_object(squeezenet_real, assets, target, box):
    # the mean saliency inside the animal's box is well above the mean outside it (measured on
    # this file: 2.4x for the dog, 2.0x for the cat)
    model = squeezenet_real
    x = real_input(model, assets, "cat_dog.png")
    saliency = attribution.saliency_map(model, x, objectives.class_score(model, target))[0]
    inside = box_mask(box)
    assert saliency.shape == (224, 224)
    assert saliency[inside].mean() > 1.5 * saliency[~inside].mean()


@pytest.fixture(scope="module")
def tiny():
    """Random-weight SqueezeNet in float64 with its 32 x 32 input: cheap contract checks."""
    model = models.build("squeezenet1_1", dtype="float64", seed=3)
    x = np.random.default_rng(0).normal(size=(2, 3, 48, 48))
    return model, x


def test_smoothgrad_without_noise_is_the_gradient(tiny):
    model, x = tiny
    score = objectives.class_score(model, 7)
    plain = attribution.input_gradient(model, x, score)
    smooth = attribution.smoothgrad(model, x, score, n_samples=3, noise_level=0.0, batch_size=2)
    np.testing.assert_allclose(smooth, plain, rtol=1e-10, atol=1e-12)
    noisy = attribution.smoothgrad(model, x, score, n_samples=3, noise_level=0.2, seed=1)
    assert not np.allclose(noisy, plain)


def test_grad_cam_and_saliency_shapes(tiny):
    model, x = tiny
    score = objectives.class_score(model, 7)
    assert attribution.saliency_map(model, x, score).shape == (2, 48, 48)
    cam = attribution.grad_cam(model, x, "fire5", score)
    assert cam.shape == (2, 48, 48) and cam.min() >= 0
    with pytest.raises(ValueError, match="convolutional layer"):
        attribution.grad_cam(model, x, "pool10", score)
    guided = attribution.guided_grad_cam(model, x, "fire5", score)
    np.testing.assert_allclose(attribution.guided_grad_cam(model, x, "fire5", score, cam=cam),
                               guided)


def test_class_objectives_take_one_class_per_example(tiny):
    model, x = tiny
    scores = objectives.class_score(model, [7, 3]).scores(model.forward(x))
    probabilities = model.probabilities(x)
    np.testing.assert_allclose(scores.numpy(), model(x).numpy()[[0, 1], [7, 3]])
    np.testing.assert_allclose(
        attribution.objective_values(model, x, objectives.class_probability(model, 3)),
        probabilities[:, 3], rtol=1e-12)
    log_p = objectives.class_log_probability(model, (7, 3))
    assert log_p.target_class == (7, 3)
    np.testing.assert_allclose(attribution.objective_values(model, x, log_p),
                               np.log(probabilities[[0, 1], [7, 3]]), rtol=1e-10)
    with pytest.raises(ValueError, match="2 target classes for a batch of 1"):
        objectives.class_score(model, [7, 3])(model, x[:1])


def test_unknown_layer_channel_and_class_errors_list_the_choices(squeezenet_real):
    model = squeezenet_real
    with pytest.raises(KeyError, match=r"no layer 'fire10'; did you mean fire2"):
        objectives.channel(model, "fire10", 0)
    with pytest.raises(ValueError, match=r"channel 512 is out of range .* 512 channels "
                                         r"\(0\.\.511\)"):
        objectives.channel(model, "fire9", 512)
    with pytest.raises(KeyError, match=r"unknown class name 'tigr cat'.*tiger_cat"):
        objectives.class_score(model, "tigr cat")
    with pytest.raises(ValueError, match=r"out of range 0\.\.999"):
        objectives.class_score(model, 1000)
    with pytest.raises(ValueError, match="relu_backward must be one of"):
        attribution.input_gradient(model, np.zeros((1, 3, 32, 32), np.float32),
                                   objectives.class_score(model, 0), "gided")


def test_class_target_on_a_network_without_class_scores():
    vgg_blocks = models.model_from_spec(models.arch_spec("vgg19"), last_layer="pool3")
    with pytest.raises(ValueError, match=r"vgg19 ends at pool3 with output \(1, 256, 28, 28\), "
                                         r"not class scores"):
        objectives.class_score(vgg_blocks, 3)
