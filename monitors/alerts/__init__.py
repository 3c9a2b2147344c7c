"""monitors.alerts package."""
