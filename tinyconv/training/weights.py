"""The result of training: a tinyconv weight file like any converted one (labels and
preprocessing included), which load_model and every method read."""
from ..weights.format import WeightFile, write_weights


def save_trained(model, path, source=""):
    """Write `model`'s weights, class names and preprocessing to a tinyconv .h5 file."""
    wf = WeightFile(model.arch, model.state_dict(), model.preprocessing, labels=model.labels,
                    num_classes=model.num_classes, source_file=source)
    return write_weights(path, wf)
