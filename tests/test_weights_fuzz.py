"""Property tests of the weight readers (issue 15): mutated, truncated and made-up HDF5 files
(tinyconv's format and Keras') and ml5 manifests load correctly or raise a ValueError/OSError,
never another exception, and never allocate more than their checked sizes. Bounded in time:
a few seconds in all."""
import json
import os
import tempfile
import tracemalloc
from pathlib import Path

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from tinyconv.weights import read_weights
from tinyconv.weights.keras import convert_keras
from tinyconv.weights.ml5 import read_manifest, read_variable

from test_weights_hostile import tiny_keras, tiny_weights

# TINYCONV_FUZZ_EXAMPLES=5000 (random, not derandomized) for a longer hunt
EXAMPLES = int(os.environ.get("TINYCONV_FUZZ_EXAMPLES", 0))
FUZZ = settings(max_examples=EXAMPLES or 60, deadline=None, derandomize=not EXAMPLES,
                suppress_health_check=[HealthCheck.too_slow])
MEMORY = 50e6  # bytes a read may allocate: the tiny files need well under 1 MB
INPUT_ERRORS = (ValueError, OSError)


@pytest.fixture(scope="module")
def folder():
    with tempfile.TemporaryDirectory() as name:
        yield Path(name)


def loads_or_refuses(read, path):
    """read(path) returns or raises an input error, within MEMORY bytes of Python allocations."""
    tracemalloc.start()
    try:
        read(path)
    except INPUT_ERRORS as e:
        assert "\n" not in str(e)
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY


mutations = st.tuples(
    st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)), max_size=8),
    st.one_of(st.none(), st.integers(0, 1 << 16)))


def mutate(data, edits):
    flips, cut = edits
    data = bytearray(data)
    for position, value in flips:
        data[position % len(data)] = value
    return bytes(data[:cut] if cut is not None else data)


@pytest.mark.parametrize("kind", ["tinyconv", "keras"])
@FUZZ
@given(edits=mutations)
def test_mutated_hdf5_files_load_or_raise_an_input_error(folder, kind, edits):
    good = folder / f"good_{kind}.h5"
    if not good.exists():
        (tiny_weights if kind == "tinyconv" else tiny_keras)(good)
    path = folder / f"mutated_{kind}.h5"
    path.write_bytes(mutate(good.read_bytes(), edits))
    loads_or_refuses(read_weights if kind == "tinyconv" else
                     lambda p: convert_keras(p, arch="vgg16"), path)


dtypes = st.sampled_from(["f2", "f4", ">f8", "i4", "u1", "c8", "S4", "f16", "?"])
shapes = st.lists(st.integers(0, 100_000), max_size=4).map(tuple)
attribute_values = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True), st.integers(-2**63, 2**63 - 1),
    st.text(max_size=20), st.binary(max_size=20),
    st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=5).map(np.array),
    st.lists(st.text(max_size=5), max_size=5).map(lambda v: np.array(v, dtype=h5py.string_dtype())))
attributes = st.dictionaries(st.sampled_from(
    ["scale", "mean", "std", "input_size", "resize_size", "num_classes", "labels",
     "colour_order", "architecture", "last_layer", "format_version"]), attribute_values,
    max_size=3)


@FUZZ
@given(shape=shapes, dtype=dtypes, written=st.booleans(), chunked=st.booleans(),
       attrs=attributes)
def test_made_up_datasets_and_attributes_load_or_raise_an_input_error(folder, shape, dtype,
                                                                      written, chunked, attrs):
    path = tiny_weights(folder / "made_up.h5")
    with h5py.File(path, "r+") as f:
        for key, value in attrs.items():
            try:
                f.attrs[key] = value
            except (TypeError, ValueError):  # h5py cannot store it (bytes with NUL): no case
                pass
        del f["layers/conv1/weight"]
        size = int(np.prod(shape))
        data = np.ones(shape, dtype) if written and size <= 10_000 else None
        try:
            f.create_dataset("layers/conv1/weight", shape=shape, dtype=dtype, data=data,
                             chunks=True if chunked and size and shape else None)
        except (TypeError, ValueError):  # h5py cannot make it (storage size overflow): no case
            return
    loads_or_refuses(read_weights, path)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.floats() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                               max_size=4), max_leaves=20)
entries = st.fixed_dictionaries({"filename": st.sampled_from(["v", "../v", "", ".", "w"]),
                                 "shape": st.lists(st.integers(-5, 10**6), max_size=5)})


@FUZZ
@given(manifest=st.dictionaries(st.text(max_size=10), st.one_of(entries, json_values),
                                max_size=4) | json_values)
def test_ml5_manifests_parse_or_raise_an_input_error(folder, manifest):
    checkpoint = folder / "ml5_manifest"
    checkpoint.mkdir(exist_ok=True)
    (checkpoint / "manifest.json").write_text(json.dumps(manifest))
    loads_or_refuses(read_manifest, checkpoint)


@FUZZ
@given(entry=entries, file_size=st.integers(0, 4096), expected=st.sampled_from([(32,), (2, 2)]))
def test_ml5_variables_read_or_raise_an_input_error(folder, entry, file_size, expected):
    checkpoint = folder / "ml5_variables"
    checkpoint.mkdir(exist_ok=True)
    (checkpoint / "v").write_bytes(b"\0" * file_size)
    tracemalloc.start()
    try:
        array = read_variable(checkpoint, entry, "Variable", expected)
        assert array.shape == expected and array.dtype == np.float32
    except INPUT_ERRORS:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert peak < MEMORY
