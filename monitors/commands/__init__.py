"""One CLI command per module; each defines ``register(subparsers)``."""
