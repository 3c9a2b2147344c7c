"""Findings part of the Store (filled in by the volume-detection issue)."""

from __future__ import annotations


class FindingsStore:
    """Records findings from detectors, their lifecycle and the actions people take."""
