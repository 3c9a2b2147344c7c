"""A faithful local Customer.io for tests and the demo: Track v1/v2, Pipelines and the App API.

``StandIn(port=0, tls=True).start()`` returns a :class:`StandInInfo` with the base URLs, the CA
certificate path and the credentials it accepts; ``python -m monitors stand-in`` runs one.
"""

from monitors.customerio.standin.faults import Faults, FaultSpecError
from monitors.customerio.standin.server import Credentials, StandIn, StandInInfo
from monitors.customerio.standin.workspace import Workspace

__all__ = ["Credentials", "FaultSpecError", "Faults", "StandIn", "StandInInfo", "Workspace"]
