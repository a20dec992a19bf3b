"""DirectMail's tag, sending-domain and sender-address calls (SPEC §10): our client against the
sandbox over 127.0.0.1, and against scripted hostile answers (``tests/hostile.py``)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from reconciler.errors import ExitCode, ProviderError
from reconciler.providers.answers import BadAnswer, InconsistentAnswer
from reconciler.providers.directmail_entries import Tag
from reconciler.providers.directmail_lists import PAGE_SIZE
from reconciler.sandbox import Sandbox
from tests.hostile import Answer
from tests.list_clients import QUICK, dm_client, hostile


def tag_page(*tags: dict[str, Any], total: int, size: int = PAGE_SIZE, number: int = 1) -> Answer:
    return Answer.json(
        {
            "RequestId": "RID-TAGS",
            "PageNumber": number,
            "PageSize": size,
            "TotalCount": total,
            "data": {"tag": list(tags)},
        }
    )


def tag(ident: Any, name: str = "", description: str = "") -> dict[str, Any]:
    return {"TagId": ident, "TagName": name or f"tag_{ident}", "TagDescription": description}


# -- tags against the sandbox ---------------------------------------------------------------


def test_tags_round_trip(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client:
        assert client.list_tags() == []
        first = client.create_tag("newsletter", "Monthly news")
        second = client.create_tag("alerts")
        assert client.list_tags() == [
            Tag(first, "newsletter", "Monthly news"),
            Tag(second, "alerts", ""),
        ]
        client.modify_tag(second, "alerts", "Pager mail")
        client.modify_tag(first, "newsletter")  # an empty description clears it
        assert client.list_tags() == [
            Tag(first, "newsletter", ""),
            Tag(second, "alerts", "Pager mail"),
        ]
        assert client.list_tags(keyword="ALER") == [Tag(second, "alerts", "Pager mail")]
        assert client.delete_tag(first) is True
        assert client.list_tags() == [Tag(second, "alerts", "Pager mail")]
    tags = sandbox.snapshot()["directmail"]["tags"]
    assert tags == [{"TagId": second, "TagName": "alerts", "TagDescription": "Pager mail"}]


def test_modify_tag_sends_the_name_and_every_value_as_a_string() -> None:
    with hostile(answers={"ModifyTag": Answer.json({"RequestId": "R"})}) as (server, client):
        client.modify_tag("42", "newsletter", "Monthly")
    [request] = server.requests
    assert request.body == b""  # every parameter in the query, like SPEC §8
    assert request.query == {"TagId": "42", "TagName": "newsletter", "TagDescription": "Monthly"}


def test_a_tag_already_gone_counts_as_deleted(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client:
        assert client.delete_tag("99999") is False
    assert sandbox.calls["DeleteTag"] == 1  # a NotFound is not retried


def test_tag_errors_are_the_providers(sandbox: Sandbox) -> None:
    with dm_client(sandbox) as client:
        client.create_tag("newsletter")
        with pytest.raises(ProviderError) as caught:
            client.create_tag("newsletter")
        assert caught.value.code == "InvalidTagName.Duplicate"
        with pytest.raises(ProviderError) as caught:
            client.create_tag("not-a-tag name")
        assert caught.value.code == "InvalidTagName.Malformed"
        with pytest.raises(ProviderError) as caught:
            client.modify_tag("99999", "other")
        assert (caught.value.code, caught.value.http_status) == ("InvalidTag.NotFound", 404)


def test_tags_page_through_a_sandbox_serving_two_rows_a_page(tmp_path: Any) -> None:
    with Sandbox(tmp_path / "state.json", list_page_size=2) as server:
        with dm_client(server) as client:
            made = [client.create_tag(f"tag_{n}") for n in range(5)]
            server.reset_calls()
            assert [t.id for t in client.list_tags()] == made
        assert server.calls["QueryTagByParam"] == 3
        assert server.list_knobs() == {"list_page_size": 2}
    # The knob is kept in the state file for the next run.
    saved = json.loads((tmp_path / "state.json").read_text())
    assert saved["directmail"]["list_page_size"] == 2
    with Sandbox(tmp_path / "state.json") as again:
        assert again.list_knobs() == {"list_page_size": 2}


def test_the_sandbox_refuses_the_101st_tag(sandbox: Sandbox) -> None:
    state = sandbox.snapshot()
    state["directmail"]["tags"] = [tag(str(n)) for n in range(1, 101)]
    sandbox.set_state(state)
    with dm_client(sandbox) as client:
        assert len(client.list_tags()) == 100
        with pytest.raises(ProviderError) as caught:
            client.create_tag("one_more")
    assert caught.value.code == "Tag.LimitExceeded"


# -- tags: hostile answers --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pages", "why"),
    [
        # A page shorter than the PageSize it states, before TotalCount is reached.
        ({"1": tag_page(tag("1"), total=3, size=2)}, "page 1 holds 1 rows of its PageSize 2"),
        # Rows past TotalCount.
        ({"1": tag_page(tag("1"), tag("2"), tag("3"), total=2, size=3)}, "than the TotalCount"),
        # More rows on a page than it states.
        ({"1": tag_page(tag("1"), tag("2"), total=5, size=1)}, "more than its PageSize 1"),
        # One id listed twice.
        ({"1": tag_page(tag("1"), tag("1", "other"), total=2)}, "id 1 is listed twice"),
        # A TotalCount that moves between pages.
        (
            {
                "1": tag_page(tag("1"), total=2, size=1),
                "2": tag_page(tag("2"), total=3, size=1, number=2),
            },
            "TotalCount was 2 on page 1 and is 3 on page 2",
        ),
        # A page size that changes between pages.
        (
            {
                "1": tag_page(tag("1"), tag("2"), total=5, size=2),
                "2": tag_page(tag("4"), tag("5"), total=5, size=3, number=2),
            },
            "PageSize was 2 on page 1 and is 3 on page 2",
        ),
        # The first page again where the second was asked for.
        (
            {"1": tag_page(tag("1"), total=2, size=1), "2": tag_page(tag("2"), total=2, size=1)},
            "page 2 was asked for and PageNumber 1 answered",
        ),
        # An empty page before TotalCount is reached.
        (
            {"1": tag_page(tag("1"), total=2, size=1), "2": tag_page(total=2, size=1, number=2)},
            "page 2 holds 0 rows of its PageSize 1 with 1 of the TotalCount of 2 read",
        ),
    ],
)
def test_an_incomplete_tag_listing_is_rule_4(pages: dict[str, Answer], why: str) -> None:
    with (
        hostile(script=lambda request: pages[request.query["PageNo"]]) as (server, client),
        pytest.raises(InconsistentAnswer) as caught,
    ):
        client.list_tags()
    assert why in str(caught.value)
    assert caught.value.exit_code == ExitCode.REFUSED
    assert "RID-TAGS" in str(caught.value) and "QueryTagByParam" in str(caught.value)
    # Read again from page 1 before it is refused (QUICK: 3 reads).
    assert [r.query["PageNo"] for r in server.requests].count("1") == QUICK.attempts


def test_a_listing_complete_on_a_second_read_is_used() -> None:
    short = tag_page(tag("1"), total=2, size=2)
    whole = tag_page(tag("1"), tag("2"), total=2, size=2)
    with hostile(answers={"QueryTagByParam": [short, whole]}) as (_server, client):
        assert [t.id for t in client.list_tags()] == ["1", "2"]


def test_tags_are_paged_with_page_numbers_from_one_and_a_page_size_of_50() -> None:
    first = tag_page(*(tag(str(n)) for n in range(1, 51)), total=51)
    second = tag_page(tag("51"), total=51, number=2)
    with hostile(answers={"QueryTagByParam": [first, second]}) as (server, client):
        assert len(client.list_tags(keyword="tag")) == 51
    assert [r.query for r in server.requests] == [
        {"KeyWord": "tag", "PageNo": "1", "PageSize": "50"},
        {"KeyWord": "tag", "PageNo": "2", "PageSize": "50"},
    ]


@pytest.mark.parametrize(
    ("record", "why"),
    [
        (tag(["1"]), "data.tag[0].TagId is a list, not a string"),
        (tag(True), "data.tag[0].TagId is the boolean true, not a string"),
        (tag(""), "data.tag[0].TagId is empty"),
        ({"TagId": "1", "TagName": 7.5}, "data.tag[0].TagName is the number 7.5"),
        ({"TagId": "1", "TagName": "a", "TagDescription": {}}, "TagDescription is a dict"),
    ],
)
def test_a_hostile_tag_record_is_a_bad_answer(record: dict[str, Any], why: str) -> None:
    with (
        hostile(answers={"QueryTagByParam": tag_page(record, total=1)}) as (_server, client),
        pytest.raises(BadAnswer) as caught,
    ):
        client.list_tags()
    assert why in str(caught.value)
    assert "RID-TAGS" in str(caught.value)
    assert "account dm" in str(caught.value)  # the account is named


@pytest.mark.parametrize(
    "body",
    [
        {"RequestId": "R", "data": {"tag": []}},  # no TotalCount
        {"RequestId": "R", "TotalCount": -1, "data": {"tag": []}},
        {"RequestId": "R", "TotalCount": 2_000_000, "PageSize": 50, "data": {"tag": []}},
        {"RequestId": "R", "TotalCount": 1, "PageSize": 0, "data": {"tag": [tag("1")]}},
        {"RequestId": "R", "TotalCount": 1, "data": {"tag": "1"}},
        {"RequestId": "R", "TotalCount": 1, "data": [tag("1")]},
    ],
)
def test_a_hostile_tag_page_is_a_bad_answer(body: dict[str, Any]) -> None:
    with (
        hostile(answers={"QueryTagByParam": Answer.json(body)}) as (_server, client),
        pytest.raises(BadAnswer),
    ):
        client.list_tags()


def test_create_tag_needs_a_tag_id_in_its_answer() -> None:
    with (
        hostile(answers={"CreateTag": Answer.json({"RequestId": "R", "TagId": None})}) as (
            _s,
            client,
        ),
        pytest.raises(BadAnswer, match="TagId is missing"),
    ):
        client.create_tag("newsletter")


def test_a_create_tag_whose_answer_was_lost_is_not_repeated_once_it_took_effect() -> None:
    lost = Answer(drop=True)
    listed = tag_page(tag("7", "newsletter"), total=1)
    answers: dict[str, Any] = {"CreateTag": lost, "QueryTagByParam": listed}
    with hostile(answers=answers) as (server, client):
        assert client.create_tag("newsletter") == "7"
    assert server.actions() == ["CreateTag", "QueryTagByParam"]
