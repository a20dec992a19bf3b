"""When a provider refuses an account's keys, say which credential reference to fix and where
it is written: the provider's answer names neither. Every error a client raises passes here
(``ProviderClient._scrubbed``), whatever the command."""

from __future__ import annotations

from reconciler.errors import ProviderError
from reconciler.model import DEFAULT_CREDENTIALS, Account, SecretRef

# Provider codes that refuse the keys themselves, and the credentials each points at.
REFUSED_KEYS: dict[str, tuple[str, ...]] = {
    "SignatureDoesNotMatch": ("accessKeySecret",),
    "IncompleteSignature": ("accessKeySecret",),
    "InvalidAccessKeyId": ("accessKeyId",),
    "InvalidAccessKeyId.NotFound": ("accessKeyId",),
    "InvalidAccessKeyId.Inactive": ("accessKeyId",),
    "InvalidSecurityToken.MisMatch": ("securityToken",),
    "InvalidSecurityToken.Malformed": ("securityToken",),
    "InvalidSecurityToken.Expired": ("securityToken",),
    "40005": ("apiUser", "apiKey"),  # SendCloud: authentication failed
}


def blame(account: Account, error: ProviderError) -> None:
    """Give ``error`` a hint naming the credential references of ``account`` its code points
    at, each at its position, if the provider refused the keys; else leave it as it is."""
    fields = REFUSED_KEYS.get(error.code or "")
    if fields is None or error.hint:
        return
    source = account.credential_source
    if source is not None:
        what = "the default credential chain" if source.chain else None
        what = what or (f"aliyun CLI profile {source.profile!r}" if source.profile else None)
        what = what or (f"role {source.role.arn}" if source.role else "its credential source")
        where = source.position or account.position
        error.hint = (
            f"{f'{where}: ' if where else ''}check the keys account {account.name!r} takes "
            f"from {what}"
        )
        return
    lines = []
    for field in fields:
        ref = account.credentials.get(field)
        if ref is None:
            ref = SecretRef(env=DEFAULT_CREDENTIALS[account.provider][field])
        where = ref.position or account.position
        lines.append(
            f"{f'{where}: ' if where else ''}check {field} of account {account.name!r} "
            f"({ref.describe()})"
        )
    error.hint = "\n  ".join(lines)
