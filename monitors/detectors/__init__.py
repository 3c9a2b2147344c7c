"""monitors.detectors package."""
