"""The branchml version, in a leaf module so that low layers and crash logs can name it cheaply."""

__version__ = "0.1.0"
