"""Demo data: a realistic D2C traffic generator and the one-command demo."""
