"""The two exception types that mark an error as caused by input, not by a bug.

The `tinyconv` command prints an input error (a ValueError or an OSError, which these are) as one
line naming the problem and the file or option, and lets anything else keep its traceback: a
TypeError, an IndexError or a KeyError from a dictionary lookup is a bug to report.
"""


class BadInput(ValueError):
    """A value handed in (a file's content, an option, a size) that tinyconv refuses."""


class UnknownName(KeyError, ValueError):
    """A name (layer, class, architecture, downloadable weights, parameter) that is not one of
    the known ones. A KeyError, for callers that look names up; a ValueError, so that the CLI
    treats it as input; printed without KeyError's quotes."""

    def __str__(self):
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()
