"""A scripted DirectMail that answers the five sending-data APIs exactly in the shapes of
SPEC §9 (strings as strings, ``faildCount``, ``TotalPages`` a string in one API and an int in
another, ``UtcLastUpdateTime`` a string or an int, ``data`` or ``TrackList``, opaque
``NextStart`` cursors), for ``tests/hostile.py``'s ``HostileServer``.

It keeps no state beyond its settings: each day of the window has ``requests`` requests of which
``failed`` failed and ``invalid`` were invalid; deliveries are ``deliveries`` records served
``page`` at a time under cursors that look like the seed's.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from tests.hostile import Answer, Request

SUMMARY = "SenderStatisticsByTagNameAndBatchID"
TRACK_BY = "GetTrackListByMailFromAndTagName"
TRACK = "GetTrackList"
INVALID = "QueryInvalidAddress"
DETAIL = "SenderStatisticsDetailByParam"


def gateway_error(code: str, message: str, status: int = 400) -> Answer:
    return Answer.json(
        {
            "RequestId": "req-error",
            "HostId": "dm.aliyuncs.com",
            "Code": code,
            "Message": message,
            "Recommend": "https://api.aliyun.com/troubleshoot",
        },
        status=status,
    )


@dataclass
class Telemetry:
    requests: int = 100
    failed: int = 1
    invalid: int = 2
    unique_opens: int = 30
    tracking_pages: int = 2
    deliveries: int = 250
    page: int = 100
    invalid_addresses: tuple[str, ...] = ("gone@example.com", "nobody@example.org")
    # Cursors to answer instead of the computed ones, in turn (a repeated cursor, say).
    cursors: list[str] | None = None
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def __call__(self, request: Request) -> Answer:
        query = dict(request.query)
        self.calls.append((request.action, query))
        if request.body:
            return gateway_error("InvalidParameter", "parameters go in the query")
        match request.action:
            case "SenderStatisticsByTagNameAndBatchID":
                return self._summary(query)
            case "GetTrackListByMailFromAndTagName" | "GetTrackList":
                return self._tracking(request.action, query)
            case "QueryInvalidAddress":
                return self._invalid(query)
            case "SenderStatisticsDetailByParam":
                return self._detail(query)
        return gateway_error("InvalidAction.NotFound", "no such action", 404)

    def _days(self, query: dict[str, str]) -> list[date] | Answer:
        try:
            first = date.fromisoformat(query["StartTime"][:10])
            last = date.fromisoformat(query["EndTime"][:10])
        except (KeyError, ValueError):
            return gateway_error("InvalidDate.Malformed", "StartTime/EndTime are yyyy-MM-dd")
        if (last - first).days + 1 > 7:
            return gateway_error("InvalidBetweenTime.Malformed", "at most 7 days")
        return [first + timedelta(days=n) for n in range((last - first).days + 1)]

    def _summary(self, query: dict[str, str]) -> Answer:
        days = self._days(query)
        if isinstance(days, Answer):
            return days
        succeeded = self.requests - self.failed - self.invalid
        stat = [
            {
                "CreateTime": f"{day}",
                "faildCount": str(self.failed),
                "requestCount": str(self.requests),
                "succeededPercent": f"{100 * succeeded / self.requests:.2f}%"
                if self.requests
                else "0%",
                "successCount": str(succeeded),
                "unavailableCount": str(self.invalid),
                "unavailablePercent": f"{100 * self.invalid / self.requests:.0f}%"
                if self.requests
                else "0%",
            }
            for day in days
        ]
        return Answer.json(
            {"RequestId": "req-sum", "TotalCount": len(stat), "data": {"stat": stat}}
        )

    def _tracking(self, action: str, query: dict[str, str]) -> Answer:
        days = self._days(query)
        if isinstance(days, Answer):
            return days
        number = int(query.get("PageNumber", "1"))
        pages = self.tracking_pages
        # The day's unique opens are spread over the pages: page n holds its share.
        share = self.unique_opens // pages + (1 if number <= self.unique_opens % pages else 0)
        stat = [
            {
                "CreateTime": f"{day}T10:{number:02d}Z",
                "RcptClickCount": "3",
                "RcptClickRate": "3.00%",
                "RcptOpenCount": str(share + 1),
                "RcptOpenRate": "31",
                "RcptUniqueClickCount": "2",
                "RcptUniqueClickRate": "2",
                "RcptUniqueOpenCount": str(share),
                "RcptUniqueOpenRate": "30",
                "TotalNumber": str(self.requests),
            }
            for day in days
        ]
        answer: dict[str, Any] = {"RequestId": "req-track", "PageNo": number, "PageSize": 100}
        answer["Total"] = len(days) * pages
        answer["OffsetCreateTime"] = ""
        answer["OffsetCreateTimeDesc"] = ""
        if action == TRACK_BY:
            answer["TotalPages"] = str(pages)
            answer["TrackList"] = {"Stat": stat}
        else:
            answer["TotalPages"] = pages
            answer["data"] = {"stat": stat}
        return Answer.json(answer)

    def _invalid(self, query: dict[str, str]) -> Answer:
        cursor = query.get("NextStart", "")
        start = int(cursor) if cursor else 0
        rows = self.invalid_addresses[start : start + 1]
        following = str(start + 1) if start + 1 < len(self.invalid_addresses) else ""
        return Answer.json(
            {
                "NextStart": following,
                "RequestId": "req-invalid",
                "TotalCount": len(self.invalid_addresses),
                "data": {
                    "mailDetail": [
                        {
                            "LastUpdateTime": "2021-04-28T17:11Z",
                            "ToAddress": address,
                            "UtcLastUpdateTime": 1619601108,
                        }
                        for address in rows
                    ]
                },
            }
        )

    def _detail(self, query: dict[str, str]) -> Answer:
        try:
            datetime.strptime(query["StartTime"], "%Y-%m-%d %H:%M")
            datetime.strptime(query["EndTime"], "%Y-%m-%d %H:%M")
        except (KeyError, ValueError):
            return gateway_error("InvalidStartTime.Malformed", "yyyy-MM-dd HH:mm")
        cursor = query.get("NextStart", "")
        start = int(cursor.split("#")[1]) if cursor else 0
        count = min(self.page, self.deliveries - start)
        rows = [_delivery(n) for n in range(start, start + count)]
        end = start + count
        following = (
            f"90f0243616#{end}#a***@example.net-1658817837#x" if end < self.deliveries else ""
        )
        if self.cursors is not None:
            following = self.cursors.pop(0) if self.cursors else ""
        return Answer.json(
            {"NextStart": following, "RequestId": "req-detail", "data": {"mailDetail": rows}}
        )


def _delivery(n: int) -> dict[str, Any]:
    return {
        "AccountName": "news@mail.example.com",
        "ErrorClassification": "SendOk" if n % 10 else "InvalidAddress",
        "LastUpdateTime": "2021-04-28T17:11Z",
        "Message": "250 Send Mail OK" if n % 10 else "550 no such user",
        "Status": 0 if n % 10 else 2,
        "Subject": "hello",
        "ToAddress": f"user{n}@example.net",
        "UtcLastUpdateTime": "1619601108",
        "ConfigSetId": "",
        "ConfigSetName": "",
        "IpPoolId": "",
        "IpPoolName": "",
    }
