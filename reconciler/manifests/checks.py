"""Semantic checks of single documents that passed the schema (or whose checked part did), and
the objects built from them.

Each function takes one document and appends Problems (errors and warnings) to a list instead of
raising, so that one run reports everything. Checks across documents live in ``manifest.py``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from reconciler.addresses import (
    is_loopback,
)
from reconciler.document import Document
from reconciler.errors import Problem
from reconciler.model import (
    DEFAULT_CREDENTIALS,
    DEFAULT_REGION,
    REGION_ENDPOINTS,
    SENDCLOUD_ENDPOINT,
    Account,
    CredentialSource,
    Limits,
    Provider,
    RetryPolicy,
    RoleRef,
    SecretRef,
)

LOOPBACK_NOTE = "http:// is allowed only for loopback hosts: 127.0.0.0/8, ::1, localhost"


def endpoint_problem(url: str) -> tuple[str, str | None] | None:
    """What is wrong with an endpoint URL (message, hint), or None if it is acceptable.

    The URL itself is never repeated: it might carry a password in its userinfo.
    """
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not parts.netloc:
        return "endpoint must be an https:// URL", "for example https://dm.aliyuncs.com"
    if parts.username is not None or parts.password is not None:
        return "endpoint must not contain credentials (user:password@)", "use spec.credentials"
    try:
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a malformed port
    except ValueError:
        return "endpoint has an invalid port", None
    if not host:
        return "endpoint has no host name", None
    if parts.query or parts.fragment:
        return "endpoint must not have a query (?...) or fragment (#...)", None
    if scheme == "http" and not is_loopback(host):
        return f"endpoint must use https://, not http:// (host {host})", LOOPBACK_NOTE
    return None


def build_account(doc: Document, problems: list[Problem]) -> Account:
    """The Account a schema-valid Account document describes, with defaults filled in."""
    name: str = doc.data["metadata"]["name"]
    spec: Mapping[str, Any] = doc.data["spec"]
    provider = Provider(spec["provider"])
    region: str | None = spec.get("region")
    endpoint: str | None = spec.get("endpoint")
    default_endpoint: str | None
    if provider is Provider.SENDCLOUD:
        if region is not None:
            problems.append(
                Problem(
                    doc.key_position(("spec", "region")),
                    "region applies only to aliyun-directmail accounts",
                    "remove it; a sendcloud account is chosen by its endpoint",
                )
            )
        region = None
        default_endpoint = SENDCLOUD_ENDPOINT
    else:
        region = DEFAULT_REGION if region is None else region
        default_endpoint = REGION_ENDPOINTS.get(region)
        if default_endpoint is None and endpoint is None:
            known = list(REGION_ENDPOINTS)
            close = difflib.get_close_matches(region, known, n=1)
            hint = f"did you mean '{close[0]}'?; " if close else ""
            problems.append(
                Problem(
                    doc.position(("spec", "region")),
                    f"unknown region '{region}'",
                    f"{hint}known regions: {', '.join(known)}; or give spec.endpoint",
                )
            )
    if endpoint is not None:
        wrong = endpoint_problem(endpoint)
        if wrong is not None:
            problems.append(Problem(doc.position(("spec", "endpoint")), *wrong))
        endpoint = endpoint.strip().rstrip("/")
    return Account(
        name=name,
        provider=provider,
        endpoint=endpoint or default_endpoint or "",
        region=region,
        credentials=_credentials(doc, provider, spec.get("credentials", {})),
        credential_source=_credential_source(doc, spec.get("credentials", {}), problems),
        limits=_limits(spec.get("limits", {})),
        retry=_retry(spec.get("retry", {})),
        position=doc.position(("metadata", "name")),
    )


def _credentials(
    doc: Document, provider: Provider, given: Mapping[str, Mapping[str, str]]
) -> dict[str, SecretRef]:
    # The schema admits only the provider's field names and only {env}/{file} values.
    credentials: dict[str, SecretRef] = {}
    for field, default_env in DEFAULT_CREDENTIALS[provider].items():
        ref = given.get(field)
        if ref is None:
            credentials[field] = SecretRef(env=default_env)
        else:
            position = doc.position(("spec", "credentials", field))
            credentials[field] = SecretRef(ref.get("env"), ref.get("file"), position)
    return credentials


SOURCE_FIELDS = ("chain", "profile", "role")


def _credential_source(
    doc: Document, given: Mapping[str, Any], problems: list[Problem]
) -> CredentialSource | None:
    """``{chain}``, ``{profile}`` or ``{role}`` (the schema admits them for aliyun only).

    Chain and profile find the keys themselves, so they stand alone; a role without OIDC is
    assumed with the account's AccessKey, so only that role may sit beside key fields."""
    named = [name for name in SOURCE_FIELDS if name in given]
    if not named:
        return None
    position = doc.position(("spec", "credentials", named[0]))
    alone = "a credentials block names one of chain, profile or role"
    if len(named) > 1:
        problems.append(
            Problem(position, f"credentials give both {named[0]} and {named[1]}", alone)
        )
        return None
    keys = sorted(set(given) - set(SOURCE_FIELDS))
    role = given.get("role")
    with_oidc = isinstance(role, Mapping) and "oidcProviderArn" in role
    if keys and (role is None or with_oidc):
        how = "finds its own keys" if role is None else "with OIDC needs no AccessKey"
        problems.append(
            Problem(
                position,
                f"credentials.{named[0]} {how}, so {', '.join(keys)} cannot be given with it",
                alone,
            )
        )
        return None
    if isinstance(role, Mapping):
        return CredentialSource(
            role=RoleRef(
                arn=str(role.get("arn", "")),
                oidc_provider_arn=role.get("oidcProviderArn"),
                oidc_token_file=role.get("oidcTokenFile"),
                session_name=role.get("sessionName"),
            ),
            position=position,
        )
    if "profile" in given:
        return CredentialSource(profile=str(given["profile"]), position=position)
    return CredentialSource(chain=True, position=position)


def _limits(given: Mapping[str, Any]) -> Limits:
    default = Limits()
    return Limits(
        requests_per_second=float(given.get("requestsPerSecond", default.requests_per_second)),
        concurrency=int(given.get("concurrency", default.concurrency)),
    )


def _retry(given: Mapping[str, Any]) -> RetryPolicy:
    default = RetryPolicy()
    return RetryPolicy(
        attempts=int(given.get("attempts", default.attempts)),
        max_seconds=float(given.get("maxSeconds", default.max_seconds)),
        base_delay=float(given.get("baseDelaySeconds", default.base_delay)),
    )
