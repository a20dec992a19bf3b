"""The sandbox's fixed credentials and where it keeps its state by default (SPEC §7).

They are public on purpose: the sandbox guards nothing, but checking them lets tests prove that
clients send credentials the way the real services expect.
"""

from __future__ import annotations

from pathlib import Path

ACCESS_KEY_ID = "sandbox-access-key-id"
ACCESS_KEY_SECRET = "sandbox-access-key-secret"
API_USER = "sandbox_api_user"
API_KEY = "sandbox-api-key"
DEFAULT_STATE_FILE = Path(".reconciler/sandbox.json")
