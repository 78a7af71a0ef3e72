"""python -m tinyconv.cli: the same as the `tinyconv` command."""
import sys

from . import main

sys.exit(main())
