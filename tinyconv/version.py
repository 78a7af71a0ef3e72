"""The version of tinyconv."""
__version__ = "0.1.0"
