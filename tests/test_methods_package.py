"""tinyconv.methods: every submodule imports as a module (no re-exported function shadows one), and
the functions re-exported under a module-like name (kmeans, grabcut) still work from the package."""
import importlib
import pkgutil
import types

import numpy as np

import tinyconv.methods


def test_every_submodule_is_a_module_on_the_package():
    names = [info.name for info in pkgutil.iter_modules(tinyconv.methods.__path__)]
    assert {"clustering", "segmentation"} <= set(names)
    for name in names:
        module = importlib.import_module(f"tinyconv.methods.{name}")
        assert isinstance(module, types.ModuleType)
        assert getattr(tinyconv.methods, name) is module, f"{name} is shadowed by a re-export"
    import tinyconv.methods.clustering as clustering
    import tinyconv.methods.segmentation as segmentation
    assert isinstance(clustering, types.ModuleType) and isinstance(segmentation, types.ModuleType)


def test_kmeans_and_grabcut_work_from_the_package():
    from tinyconv.methods import grabcut, kmeans
    assert kmeans is tinyconv.methods.clustering.kmeans
    assert grabcut is tinyconv.methods.segmentation.grabcut
    points = np.concatenate([np.zeros((5, 2)), np.full((5, 2), 10.0)])
    _, labels = kmeans(points, 2)
    assert len(set(labels[:5])) == 1 and len(set(labels[5:])) == 1 and labels[0] != labels[5]
    image = np.zeros((16, 16, 3), np.uint8)
    image[4:12, 4:12] = (220, 30, 30)
    fg_seeds = np.zeros((16, 16), bool)
    fg_seeds[7:9, 7:9] = True
    bg_seeds = np.zeros((16, 16), bool)
    bg_seeds[0] = True
    mask = grabcut(image, fg_seeds, bg_seeds, n_components=1)
    np.testing.assert_array_equal(mask[4:12, 4:12], True)
    assert mask.sum() == 64
