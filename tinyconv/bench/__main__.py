"""`python -m tinyconv.bench --child JSON`: one benchmark child process (see run.serve)."""
import sys

from .run import child_main

child_main(sys.argv)
