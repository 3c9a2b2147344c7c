"""Event Health Monitor: watches the product events that feed Customer.io.

Packages: ``monitors.ingest`` (readers of outgoing event logs), ``monitors.detectors``
(pure detectors), ``monitors.alerts`` (message, render, route, deliver), ``monitors.customerio``
(App API client, collector, local stand-in), ``monitors.commands`` (one CLI command per module).
SQL lives only in the ``storage`` package.
"""

__version__ = "0.1.0"

import os as _os

# Nothing here multiplies matrices; OpenBLAS's thread pool would only spin beside the ingest's two
# scanning threads (~50 ms of CPU after numpy loads). A user's own setting wins.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
