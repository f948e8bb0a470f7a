"""evoforge: discover machine-learning components by evolution."""

__version__ = "0.1.0"
