"""The package version, in a module of its own at the bottom of the layers so that every layer
(results, model cards, run records, the CLI) can read it without importing the package root."""

__version__ = "0.1.0"
