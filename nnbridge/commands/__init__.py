"""The ``nnbridge`` sub-commands, one module each with ``register(subparsers)``."""
