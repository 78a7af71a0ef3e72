"""python -m tinyconv: the same as the `tinyconv` command."""
import sys

from .cli import main

sys.exit(main())
