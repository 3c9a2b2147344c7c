"""Readers of outgoing event logs: discovery, checkpoints, the columnar parse and aggregate."""
