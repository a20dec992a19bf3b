"""The meaning of a schema-valid ``DeliveryCheck`` document (SPEC §9), with positions."""

from __future__ import annotations

from datetime import timedelta

from reconciler.document import Document
from reconciler.durations import DAY, MINUTE, watch_duration
from reconciler.errors import Problem
from reconciler.model import DeliveryCheck, GuardSpec

# DirectMail keeps its sending data for 30 days (seed 000).
MAX_WINDOW = timedelta(days=30)


def delivery_check(doc: Document, problems: list[Problem]) -> DeliveryCheck | None:
    """The check a document describes, or ``None`` after adding its problems."""
    from reconciler.durations import parse_duration

    spec = doc.data["spec"]
    found = len(problems)
    window_text = str(spec["window"])
    try:
        window = parse_duration(window_text)
    except ValueError as error:
        problems.append(Problem(doc.position(("spec", "window")), str(error)))
        window = timedelta(0)
    if window > MAX_WINDOW:
        problems.append(
            Problem(
                doc.position(("spec", "window")),
                f"window {window_text} is longer than the 30 days DirectMail keeps",
                "use at most 30d",
            )
        )
    elif window <= timedelta(0) and len(problems) == found:
        problems.append(Problem(doc.position(("spec", "window")), "window must be longer than 0"))
    elif window < DAY and window % MINUTE:
        problems.append(
            Problem(
                doc.position(("spec", "window")),
                f"window {window_text} is not a whole number of minutes: a window under a day "
                "is read message by message, to the minute",
                "use whole minutes (such as 90m) under a day, or 1d and more",
            )
        )
    elif window < DAY and spec.get("minOpenPercent") is not None:
        problems.append(
            Problem(
                doc.position(("spec", "minOpenPercent")),
                f"minOpenPercent cannot be measured over a window of {window_text}: DirectMail "
                "counts opens per day",
                "give this check a window of 1d or more, or measure opens in another check",
            )
        )
    if "tag" in spec and "sender" in spec:
        problems.append(
            Problem(
                doc.position(("spec", "sender")),
                "a DeliveryCheck takes at most one of tag and sender",
                "the sending-data APIs filter by one of them; write one check for each",
            )
        )
    guard = guard_spec(doc, problems)  # guard hook (SPEC §11)
    if len(problems) > found:
        return None
    if "tag" in spec and spec.get("minOpenPercent") is not None:
        problems.append(
            Problem(
                doc.position(("spec", "minOpenPercent")),
                "minOpenPercent cannot be measured for a tag alone: DirectMail's tracking by "
                "tag takes the sender too; check will skip it",
                "measure opens with a DeliveryCheck on the sender instead",
                warning=True,
            )
        )
    return DeliveryCheck(
        name=doc.data["metadata"]["name"],
        account=spec["account"],
        window_seconds=window.total_seconds(),
        window_text=window_text,
        min_requests=int(spec["minRequests"]),
        max_failed_percent=float(spec["maxFailedPercent"]),
        max_invalid_percent=float(spec["maxInvalidPercent"]),
        min_open_percent=(
            float(spec["minOpenPercent"]) if spec.get("minOpenPercent") is not None else None
        ),
        tag=str(spec.get("tag", "")),
        sender=str(spec.get("sender", "")),
        position=doc.position(("metadata", "name")),
        guard=guard,
    )


DEFAULT_MIN_REQUESTS = 20  # a guard's minRequests when the manifest omits it


def guard_spec(doc: Document, problems: list[Problem]) -> GuardSpec | None:
    """``spec.guard`` of a schema-valid DeliveryCheck document; ``None`` when absent or after
    adding its problems (each at its position)."""
    guard = doc.data["spec"].get("guard")
    if guard is None:
        return None
    where = ("spec", "guard", "watch")
    text = str(guard["watch"])
    try:
        watch = watch_duration(text)
    except ValueError as error:
        problems.append(Problem(doc.position(where), str(error), "use 1m to 2h, such as 15m"))
        return None
    return GuardSpec(
        watch_seconds=watch.total_seconds(),
        watch_text=text,
        min_requests=int(guard.get("minRequests", DEFAULT_MIN_REQUESTS)),
        rollback=str(guard.get("rollback", "auto")),
    )
