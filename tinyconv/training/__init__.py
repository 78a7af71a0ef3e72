"""tinyconv.training: train a network of the architecture tables on labelled images.

    model = tinyconv.models.build("convnetjs_cifar", seed=0)
    train_set = data.from_folder("cifar10/train", size=(32, 32))
    history = train(model, train_set, TrainConfig(epochs=20), test_set=..., checkpoint="ck.npz")
    save_trained(model, "convnetjs_cifar.h5")

data: datasets decoded once into memory, augmentation, batches; schedules: learning rates;
checkpoint: the resumable state; loop: the loop (Trainer, train, evaluate); steplog: a CSV line
per step (loss curves); weights: the result as a tinyconv weight file.
"""
from . import data
from .data import Dataset, from_arrays, from_folder
from .loop import (OPTIMIZERS, Classification, TrainConfig, Trainer, TrainingDiverged, evaluate,
                   train)
from .schedules import SCHEDULES, learning_rate
from .steplog import StepLog
from .weights import save_trained

__all__ = ["Classification", "Dataset", "OPTIMIZERS", "SCHEDULES", "StepLog", "TrainConfig",
           "Trainer",
           "TrainingDiverged",
           "data", "evaluate", "from_arrays", "from_folder", "learning_rate", "save_trained",
           "train"]
