"""Event Health Monitor: watches the product events that feed Customer.io.

Packages: ``monitors.ingest`` (readers of outgoing event logs), ``monitors.detectors``
(pure detectors), ``monitors.alerts`` (message, render, route, deliver), ``monitors.customerio``
(App API client, collector, local stand-in), ``monitors.commands`` (one CLI command per module).
SQL lives only in the ``storage`` package.
"""

__version__ = "0.1.0"
