"""A convolution's weights as the picture the lecture shows: which layers are convolutions, and a
layer's filters (O, I, kh, kw) in RGB order for a first layer trained on BGR input."""


def conv_layers(model):
    """Names of the model's convolution layers, in order."""
    return [name for name, layer in model.layers.items() if layer.kind == "conv"]


def layer_filters(model, layer=None):
    """(layer name, its weight as a numpy (O, I, kh, kw) array) of convolution `layer` (default:
    the first); a first layer of a BGR-trained network has its input channels put in RGB order."""
    convs = conv_layers(model)
    if not convs:
        raise ValueError(f"{model.arch} has no convolution")
    layer = model.resolve(layer) if layer else convs[0]
    if layer not in convs:
        raise ValueError(f"{layer} is not a convolution; convolutional layers: {', '.join(convs)}")
    weight = model.params[f"{layer}.weight"].numpy()
    if weight.shape[1] == 3 and model.preprocessing.colour_order == "BGR":
        weight = weight[:, ::-1]
    return layer, weight
