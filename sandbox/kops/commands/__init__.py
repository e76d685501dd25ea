"""The emulated kops's commands, one module per concern; each takes the ``Program``."""
