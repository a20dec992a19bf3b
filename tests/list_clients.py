"""Our provider clients pointed at the sandbox or at a scripted server, paced for tests, and the
manifests of DirectMail's lists (SPEC §10): what several test modules share."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path

from reconciler import sandbox as sb
from reconciler.model import Account, Limits, Provider, RetryPolicy
from reconciler.providers.directmail import DirectMailClient
from reconciler.providers.sendcloud import SendCloudClient
from reconciler.sandbox import Sandbox
from tests.cli_helpers import accounts_yaml, write
from tests.hostile import Answer, HostileServer, Request

FAST = Limits(requests_per_second=1000)


QUICK = RetryPolicy(attempts=3, max_seconds=5, base_delay=0.001)


DM_SECRETS = {"accessKeyId": sb.ACCESS_KEY_ID, "accessKeySecret": sb.ACCESS_KEY_SECRET}


SC_SECRETS = {"apiUser": sb.API_USER, "apiKey": sb.API_KEY}


def dm_client(server: Sandbox, **secrets: str) -> DirectMailClient:
    account = Account(
        "dm", Provider.ALIYUN_DM, server.directmail_endpoint, limits=FAST, retry=QUICK
    )
    return DirectMailClient(account, {**DM_SECRETS, **secrets})


def sc_client(server: Sandbox, **secrets: str) -> SendCloudClient:
    account = Account("sc", Provider.SENDCLOUD, server.sendcloud_endpoint, limits=FAST, retry=QUICK)
    return SendCloudClient(account, {**SC_SECRETS, **secrets})


@contextlib.contextmanager
def hostile(
    answers: Mapping[str, Answer | list[Answer]] | None = None,
    script: Callable[[Request], Answer] | None = None,
) -> Iterator[tuple[HostileServer, DirectMailClient]]:
    """A scripted provider on 127.0.0.1 and our client pointed at it."""
    with HostileServer(script=script, answers=answers or {}) as server:
        account = Account("dm", Provider.ALIYUN_DM, server.url, limits=FAST, retry=QUICK)
        with DirectMailClient(account, DM_SECRETS) as client:
            yield server, client


DOMAIN = "mail.example.com"


def domain_list(*domains: str, extra: str = "", name: str = "domains") -> str:
    items = "".join(f"    - {d}\n" for d in domains) if domains else "    []\n"
    body = "  domains:\n" + items if domains else "  domains: []\n"
    return (
        f"apiVersion: reconciler/v1\nkind: MailDomainList\nmetadata: {{name: {name}}}\n"
        f"spec:\n  account: dm\n{body}{extra}"
    )


def address_list(*addresses: str, extra: str = "") -> str:
    items = "".join(f"    - {a}\n" for a in addresses)
    body = "  addresses:\n" + items if addresses else "  addresses: []\n"
    return (
        "apiVersion: reconciler/v1\nkind: SenderAddressList\nmetadata: {name: senders}\n"
        f"spec:\n  account: dm\n{body}{extra}"
    )


def manifests(root: Path, server: Sandbox, *documents: str) -> Path:
    write(root / "m" / "accounts.yaml", accounts_yaml(server.url))
    write(root / "m" / "mail.yaml", "---\n".join(documents))
    return root


def seed(
    server: Sandbox, domains: Iterable[str] = (), addresses: Iterable[tuple[str, str]] = ()
) -> None:
    with dm_client(server) as client:
        for domain in domains:
            client.create_domain(domain)
        for address, sendtype in addresses:
            client.create_mail_address(address, sendtype)


def live(server: Sandbox) -> tuple[dict[str, bool], dict[str, tuple[str, str, str]]]:
    """Domains (name -> verified) and addresses (address -> (id, type, replyTo))."""
    with dm_client(server) as client:
        domains = {d.name: d.verified for d in client.list_domains()}
        addresses = {
            a.address: (a.id, a.sendtype, a.reply_to) for a in client.list_mail_addresses()
        }
    return domains, addresses
