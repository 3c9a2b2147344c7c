"""monitors.customerio package."""
