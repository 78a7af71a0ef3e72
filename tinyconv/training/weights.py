"""The result of training: a tinyconv weight file like any converted one (labels and
preprocessing included), which load_model and every method read."""
from ..weights.format import WeightFile, write_weights


def save_trained(model, path, source="", encoder=""):
    """Write `model`'s weights, class names (or a CIN network's style names) and preprocessing to
    a tinyconv .h5 file; encoder: an AdaIN decoder's encoder record."""
    count = model.num_classes or (len(model.labels) if model.labels else None)
    wf = WeightFile(model.arch, model.state_dict(), model.preprocessing, labels=model.labels,
                    num_classes=count, source_file=source, encoder=encoder)
    return write_weights(path, wf)
