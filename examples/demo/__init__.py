"""The demo shop (``make demo``): see ``examples/demo/README.md``."""
