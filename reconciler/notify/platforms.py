"""Each chat platform's message body, signature and @-mentions, and what its answer means.

Signing, as each platform documents it:

- DingTalk: ``timestamp`` (ms) and ``sign`` = base64(HMAC-SHA256(key=secret,
  msg=timestamp + "\\n" + secret)), URL-encoded, as query parameters;
- Feishu / Lark: ``timestamp`` (s) and ``sign`` = base64(HMAC-SHA256(key=timestamp + "\\n" +
  secret, msg="")) in the JSON body;
- WeCom and Slack: the URL is the credential, there is no signature.

Mentions (``--notify-mention`` / ``RECONCILER_NOTIFY_MENTION``): ``all``, a mobile number or
a user id, each written into the body the way its platform renders an @:

- DingTalk: ``at: {atMobiles, atUserIds, isAtAll}``, and ``@mobile`` / ``@userid`` in the text
  (the robot highlights only what the text names);
- WeCom: ``text.mentioned_list`` (user ids, ``@all``) and ``text.mentioned_mobile_list``;
- Feishu: ``<at user_id="ou_...">`` in the text (``user_id="all"`` for everyone); it takes no
  mobile numbers;
- Slack: ``<@U...>`` in the text (``<!channel>`` for everyone); no mobile numbers either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import InputError

PLATFORMS = ("dingtalk", "feishu", "wecom", "slack")
MENTION_ENV = "RECONCILER_NOTIFY_MENTION"
# The platforms that have no way to mention someone by mobile number.
NO_MOBILES = ("feishu", "slack")

_MOBILE = re.compile(r"\+?\d{6,15}")
# Letters, digits and the punctuation user ids of the four platforms use (WeCom allows
# ``@`` and ``.``): nothing that could break out of Feishu's <at> attribute or Slack's <@...>.
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}")


@dataclass(frozen=True)
class Mentions:
    """Who a post @-mentions."""

    everyone: bool = False
    mobiles: tuple[str, ...] = ()
    users: tuple[str, ...] = ()
    # Where the list came from, for messages: the flag or the variable.
    source: str = field(default="", compare=False)

    def __bool__(self) -> bool:
        return self.everyone or bool(self.mobiles or self.users)

    def count(self, platform: str) -> int:
        """How many mentions ``platform`` can carry (mobiles are dropped where it has none)."""
        mobiles = 0 if platform in NO_MOBILES else len(self.mobiles)
        return int(self.everyone) + mobiles + len(self.users)


def parse_mentions(values: Iterable[str], source: str) -> Mentions:
    """``all``, ``mobile:NUMBER`` or a bare number, ``user:ID`` or a bare id; comma- or
    space-separated. Raises ``InputError`` naming ``source`` for anything else."""
    everyone = False
    mobiles: list[str] = []
    users: list[str] = []
    for value in values:
        for word in re.split(r"[,\s]+", value.strip()):
            if not word:
                continue
            kind, _, rest = word.partition(":")
            if word.lower() in ("all", "@all"):
                everyone = True
            elif kind == "mobile" and _MOBILE.fullmatch(rest):
                mobiles.append(rest)
            elif kind == "user" and _USER.fullmatch(rest):
                users.append(rest)
            elif not rest and _MOBILE.fullmatch(word):
                mobiles.append(word)
            elif not rest and _USER.fullmatch(word):
                users.append(word)
            else:
                shown = word if len(word) <= 40 else word[:40] + "…"
                raise InputError(
                    f"{source}: {shown!r} is not a mention: give all, a mobile number "
                    "(mobile:13800000000) or a user id (user:ou_1a2b3c), separated by commas"
                )
    return Mentions(
        everyone, tuple(dict.fromkeys(mobiles)), tuple(dict.fromkeys(users)), source=source
    )


def signed(
    platform: str,
    url: str,
    text: str,
    secret: str | None,
    now: float | None = None,
    mentions: Mentions | None = None,
) -> tuple[str, dict[str, Any]]:
    """The URL to post to and the JSON body, signed as ``platform`` documents."""
    now = time.time() if now is None else now
    mentions = mentions or Mentions()
    if platform == "dingtalk":
        body: dict[str, Any] = {"msgtype": "text", "text": {"content": text}}
        if mentions:
            named = [f"@{m}" for m in (*mentions.mobiles, *mentions.users)]
            body["text"]["content"] = f"{text}\n{' '.join(named or ['@all'])}"
            body["at"] = {
                "atMobiles": list(mentions.mobiles),
                "atUserIds": list(mentions.users),
                "isAtAll": mentions.everyone,
            }
        if secret:
            timestamp = str(int(now * 1000))
            digest = hmac.new(
                secret.encode(), f"{timestamp}\n{secret}".encode(), hashlib.sha256
            ).digest()
            sign = urllib.parse.quote_plus(base64.b64encode(digest).decode())
            url += f"{'&' if '?' in url else '?'}timestamp={timestamp}&sign={sign}"
        return url, body
    if platform == "feishu":
        ats = [f'<at user_id="{user}"></at>' for user in mentions.users]
        if mentions.everyone:
            ats.append('<at user_id="all">所有人</at>')
        body = {"msg_type": "text", "content": {"text": _joined(text, ats)}}
        if secret:
            timestamp = str(int(now))
            key = f"{timestamp}\n{secret}".encode()
            sign = base64.b64encode(hmac.new(key, b"", hashlib.sha256).digest()).decode()
            body = {"timestamp": timestamp, "sign": sign, **body}
        return url, body
    if platform == "wecom":
        content: dict[str, Any] = {"content": text}
        if mentions.users or mentions.everyone:
            content["mentioned_list"] = [*mentions.users, *(["@all"] if mentions.everyone else [])]
        if mentions.mobiles:
            content["mentioned_mobile_list"] = list(mentions.mobiles)
        return url, {"msgtype": "text", "text": content}
    ats = [f"<@{user}>" for user in mentions.users]  # slack
    if mentions.everyone:
        ats.append("<!channel>")
    return url, {"text": _joined(text, ats)}


def _joined(text: str, ats: list[str]) -> str:
    return f"{text}\n{' '.join(ats)}" if ats else text


def answer_problem(platform: str, status: int, body: bytes) -> str | None:
    """What the platform's answer says went wrong (None: accepted)."""
    if status != 200:
        return f"HTTP {status}"
    import json

    try:
        answer = json.loads(body)
    except ValueError:
        return None if platform == "slack" else "an answer that is not JSON"
    if not isinstance(answer, dict):
        return None
    code = answer.get("errcode", answer.get("code", answer.get("StatusCode", 0)))
    if code not in (0, None):
        message = str(answer.get("errmsg", answer.get("msg", "")))[:200]
        return f"error {code}: {message}" if message else f"error {code}"
    return None
