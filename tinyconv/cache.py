"""Where tinyconv keeps what it computes once: converted weights (`<name>.h5`) and, under
features/, cached layer features."""
import os
from pathlib import Path


def cache_dir():
    """The cache folder: TINYCONV_CACHE, else ~/.cache/tinyconv."""
    return Path(os.environ.get("TINYCONV_CACHE") or Path.home() / ".cache" / "tinyconv")
