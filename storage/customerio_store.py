"""Customer.io activity part of the Store (filled in by the Customer.io issue)."""

from __future__ import annotations


class CustomerIOStore:
    """Activity metrics, App API resume points and health."""
