"""The live state a new sandbox starts with, so `plan examples/ --sandbox` shows a real plan.

Its ``telemetry`` section is the synthetic traffic's knobs (``traffic.TrafficConfig``): the
demo senders send from addresses inside ``198.51.100.0/24``, which the demo whitelist and the
examples' whitelist both hold, so switching protection on leaves their mail healthy."""

from __future__ import annotations

from typing import Any

from reconciler.sandbox.traffic import TrafficConfig


def demo_state() -> dict[str, Any]:
    """A fresh copy of the demo state, in the sandbox's state-file format."""
    return {
        "directmail": {
            "ip_protection": "0",
            "next_id": 10085,
            "ipfilters": [
                {"Id": "10083", "IpAddress": "198.51.100.0/24", "CreateTime": "1653547140"},
                {"Id": "10084", "IpAddress": "203.0.113.99", "CreateTime": "1653547201"},
            ],
        },
        "sendcloud": {
            "unintercepts": [
                {
                    "apiUserName": "all",
                    "domain": "",
                    "email": "ceo@example.com",
                    "type": [1, 2, 4, 8],
                    "createTime": "2021-07-15 15:32:03",
                },
                {
                    "apiUserName": "all",
                    "domain": "",
                    "email": "vip@example.com",
                    "type": [1],
                    "createTime": "2021-07-15 15:33:10",
                },
                {
                    "apiUserName": "marketing",
                    "domain": "partner.example",
                    "email": "",
                    "type": [1, 2],
                    "createTime": "2021-07-15 15:21:41",
                },
                {
                    "apiUserName": "marketing",
                    "domain": "",
                    "email": "old-list@example.org",
                    "type": [8],
                    "createTime": "2021-07-16 09:02:55",
                },
            ]
        },
        "telemetry": TrafficConfig().to_dict(),
    }
