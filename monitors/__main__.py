"""``python -m monitors`` entry point."""

from monitors.cli import main

raise SystemExit(main())
