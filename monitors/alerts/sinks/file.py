"""File or stdout sink for dry runs: appends each rendered message."""

from __future__ import annotations

import sys
from pathlib import Path

from monitors.alerts.config import FileReceiver
from monitors.alerts.message import Message
from monitors.alerts.renderers import RENDERERS
from monitors.alerts.sinks.base import Delivery, Receipt
from monitors.errors import DeliveryError

SEPARATOR = "=" * 72


class FileSink:
    """Writes ``text``, ``markdown`` or ``json`` to ``path`` (``-`` is stdout)."""

    def __init__(self, config: FileReceiver) -> None:
        self.name = config.name
        self.config = config

    def send(self, message: Message, delivery: Delivery) -> Receipt:
        """Append the rendered message, preceded by a separator line naming the delivery."""
        chunk = f"{SEPARATOR}\n# delivery {delivery.id}\n{RENDERERS[self.config.format](message)}"
        if self.config.path == "-":
            sys.stdout.write(chunk)
            sys.stdout.flush()
            return {"path": "-"}
        path = Path(self.config.path)
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("a", encoding="utf-8") as out:
                out.write(chunk)
        except OSError as exc:
            raise DeliveryError(
                f"file sink {self.name}: cannot write {path}: {exc.strerror}", retryable=True
            ) from exc
        return {"path": str(path)}
