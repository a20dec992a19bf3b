"""A local emulator of Alibaba Cloud DirectMail and SendCloud (SPEC §7), for demos and tests.

One port serves both: DirectMail at ``{url}/``, SendCloud at ``{url}/apiv2``. It verifies V3
and V1 DirectMail signatures, timestamps and nonces, checks SendCloud's apiUser/apiKey, pages
like SendCloud and keeps its state in a JSON file across runs.

Modules: ``service`` (the Sandbox and ``serve_forever``), ``server`` (HTTP), ``directmail`` and
``directmail_auth``, ``telemetry`` and ``telemetry_params`` (DirectMail's sending-data calls)
over ``traffic`` (the synthetic mail), ``sendcloud``, ``state`` and ``records`` (the data),
``faults`` (the one place faults are injected), ``demo`` (the first-run state).
"""

from __future__ import annotations

from reconciler.addresses import is_loopback
from reconciler.sandbox.credentials import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    API_KEY,
    API_USER,
    DEFAULT_STATE_FILE,
)
from reconciler.sandbox.faults import Faults
from reconciler.sandbox.service import Sandbox, serve_forever

__all__ = [
    "ACCESS_KEY_ID",
    "ACCESS_KEY_SECRET",
    "API_KEY",
    "API_USER",
    "DEFAULT_STATE_FILE",
    "Faults",
    "Sandbox",
    "is_loopback",
    "serve_forever",
]
