"""Keys found at run time: the default credential chain, ``aliyun`` CLI profiles and roles.

The chain is the official Alibaba Cloud SDKs' order, reading the same variables and files:

1. ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET`` (and
   ``ALIBABA_CLOUD_SECURITY_TOKEN``);
2. OIDC: ``ALIBABA_CLOUD_ROLE_ARN``, ``ALIBABA_CLOUD_OIDC_PROVIDER_ARN`` and
   ``ALIBABA_CLOUD_OIDC_TOKEN_FILE`` (``ALIBABA_CLOUD_ROLE_SESSION_NAME`` optional), exchanged
   through STS ``AssumeRoleWithOIDC``;
3. the ``aliyun`` CLI's ``~/.aliyun/config.json``: the profile ``ALIBABA_CLOUD_PROFILE`` names,
   else its current one (skipped when ``ALIBABA_CLOUD_CLI_PROFILE_DISABLED=true``);
4. the ECS instance's RAM role (``ALIBABA_CLOUD_ECS_METADATA`` names it; skipped when
   ``ALIBABA_CLOUD_ECS_METADATA_DISABLED=true``).

The official ``alibabacloud-credentials`` library is not used: it always calls STS over
https:// (no local STS can answer it), reads the environment once, at import, and brings four
runtime dependencies. Errors name the account and what is missing, never a value.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from reconciler import files, strictjson
from reconciler.credentials import sts
from reconciler.errors import InputError
from reconciler.model import Account, CredentialSource, RoleRef

log = logging.getLogger("reconciler.credentials.resolve")

ENV_KEYS = ("ALIBABA_CLOUD_ACCESS_KEY_ID", "ALIBABA_CLOUD_ACCESS_KEY_SECRET")
ENV_OIDC = (
    "ALIBABA_CLOUD_ROLE_ARN",
    "ALIBABA_CLOUD_OIDC_PROVIDER_ARN",
    "ALIBABA_CLOUD_OIDC_TOKEN_FILE",
)
CLI_CONFIG = Path(".aliyun") / "config.json"


def obtain(
    account: Account, source: CredentialSource, base: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, str]:
    """The keys ``source`` gives for ``account``; ``base``: the account's static keys, as
    resolved (used only by a role assumed without OIDC)."""
    name = account.name
    if source.role is not None:
        return _role(name, source.role, base, env)
    if source.profile is not None:
        return _profile(name, source.profile, env)
    return _chain(name, env)


def _chain(account: str, env: Mapping[str, str]) -> dict[str, str]:
    tried: list[str] = []
    if all(env.get(var) for var in ENV_KEYS):
        log.debug("account %s: keys from %s", account, ENV_KEYS[0])
        keys = {"accessKeyId": env[ENV_KEYS[0]], "accessKeySecret": env[ENV_KEYS[1]]}
        if env.get("ALIBABA_CLOUD_SECURITY_TOKEN"):
            keys["securityToken"] = env["ALIBABA_CLOUD_SECURITY_TOKEN"]
        return keys
    tried.append(f"{' and '.join(ENV_KEYS)} are not both set")
    if all(env.get(var) for var in ENV_OIDC):
        role = RoleRef(
            arn=env[ENV_OIDC[0]],
            oidc_provider_arn=env[ENV_OIDC[1]],
            oidc_token_file=env[ENV_OIDC[2]],
            session_name=env.get("ALIBABA_CLOUD_ROLE_SESSION_NAME") or None,
        )
        log.debug("account %s: keys from OIDC, role %s", account, role.arn)
        return _role(account, role, {}, env)
    unset = [var for var in ENV_OIDC if not env.get(var)]
    tried.append(f"OIDC: {', '.join(unset)} not set")
    if env.get("ALIBABA_CLOUD_CLI_PROFILE_DISABLED", "").lower() != "true":
        config = _home(env) / CLI_CONFIG
        if config.is_file():
            return _profile(account, env.get("ALIBABA_CLOUD_PROFILE") or None, env)
        tried.append(f"no aliyun CLI profile ({config} not found)")
    if env.get("ALIBABA_CLOUD_ECS_METADATA_DISABLED", "").lower() != "true":
        log.debug("account %s: trying the ECS instance's RAM role", account)
        return sts.ecs_role(account, env.get("ALIBABA_CLOUD_ECS_METADATA") or None)
    tried.append("ECS RAM role: ALIBABA_CLOUD_ECS_METADATA_DISABLED=true")
    raise InputError(
        f"account {account!r}: the default credential chain found no credentials:\n    "
        + "\n    ".join(tried)
    )


def _role(
    account: str, role: RoleRef, base: Mapping[str, str], env: Mapping[str, str]
) -> dict[str, str]:
    url = sts.endpoint(env)
    session = sts.session_name(role.session_name)
    seconds = sts.duration(env)
    if role.oidc_provider_arn is not None and role.oidc_token_file is not None:
        path = Path(role.oidc_token_file).expanduser()
        if not path.is_file():
            raise InputError(f"account {account!r}: the OIDC token file {path} does not exist")
        token = files.read_text(path, files.CREDENTIAL_LIMIT, "OIDC token file").strip()
        if not token:
            raise InputError(f"account {account!r}: the OIDC token file {path} is empty")
        return sts.assume_role_with_oidc(
            account, url, role.arn, role.oidc_provider_arn, token, session, seconds
        )
    if not (base.get("accessKeyId") and base.get("accessKeySecret")):
        raise InputError(
            f"account {account!r}: assuming role {role.arn} without OIDC needs an AccessKey "
            "(accessKeyId and accessKeySecret, or ALIBABA_CLOUD_ACCESS_KEY_ID/SECRET)"
        )
    return sts.assume_role(account, url, role.arn, session, base, seconds)


def _home(env: Mapping[str, str]) -> Path:
    home = env.get("HOME") or env.get("USERPROFILE")
    return Path(home) if home else Path.home()


def _profile(account: str, name: str | None, env: Mapping[str, str]) -> dict[str, str]:
    """The keys of an ``aliyun`` CLI profile (``name``, or the file's current profile)."""
    config = _home(env) / CLI_CONFIG
    if not config.is_file():
        raise InputError(f"account {account!r}: the aliyun CLI configuration {config} is missing")
    try:
        data = strictjson.loads(
            files.read_text(config, files.CREDENTIAL_LIMIT, "aliyun CLI config")
        )
    except ValueError:
        raise InputError(f"account {account!r}: {config} is not valid JSON") from None
    profiles = data.get("profiles") if isinstance(data, dict) else None
    if not isinstance(profiles, list):
        raise InputError(f"account {account!r}: {config} has no profiles list")
    wanted = name or (data.get("current") if isinstance(data.get("current"), str) else None)
    wanted = wanted or "default"
    found = [p for p in profiles if isinstance(p, dict) and p.get("name") == wanted]
    if not found:
        names = ", ".join(str(p.get("name")) for p in profiles if isinstance(p, dict))
        raise InputError(
            f"account {account!r}: {config} has no profile {wanted!r} (it has: {names or 'none'})"
        )
    profile: dict[str, Any] = found[0]
    log.debug("account %s: keys from aliyun CLI profile %s", account, wanted)
    return _from_profile(account, wanted, profile, env)


def _from_profile(
    account: str, name: str, profile: Mapping[str, Any], env: Mapping[str, str]
) -> dict[str, str]:
    def field(key: str) -> str:
        value = profile.get(key)
        if not isinstance(value, str) or not value.strip():
            raise InputError(f"account {account!r}: aliyun CLI profile {name!r} has no {key}")
        return value.strip()

    mode = profile.get("mode") or "AK"
    if mode in ("AK", "StsToken", "RamRoleArn"):
        keys = {
            "accessKeyId": field("access_key_id"),
            "accessKeySecret": field("access_key_secret"),
        }
        if mode == "StsToken":
            keys["securityToken"] = field("sts_token")
        if mode != "RamRoleArn":
            return keys
        role = RoleRef(arn=field("ram_role_arn"), session_name=profile.get("ram_session_name"))
        return _role(account, role, keys, env)
    if mode == "OIDC":
        role = RoleRef(
            arn=field("ram_role_arn"),
            oidc_provider_arn=field("oidc_provider_arn"),
            oidc_token_file=field("oidc_token_file"),
            session_name=profile.get("ram_session_name") or None,
        )
        return _role(account, role, {}, env)
    if mode == "EcsRamRole":
        return sts.ecs_role(account, profile.get("ram_role_name") or None)
    raise InputError(
        f"account {account!r}: aliyun CLI profile {name!r} has mode {mode!r}; supported: "
        "AK, StsToken, RamRoleArn, OIDC, EcsRamRole"
    )
