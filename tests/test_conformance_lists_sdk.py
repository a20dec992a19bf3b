"""The official SDK (``alibabacloud_dm20151123``, V3 signatures) drives the sandbox's tag,
sending-domain and sender-address calls (SPEC §10): if it reads the answers into its models with
the documented types, the sandbox speaks the wire the SDK speaks."""

from __future__ import annotations

from pathlib import Path

import pytest
from alibabacloud_dm20151123 import models as dm
from alibabacloud_tea_openapi.exceptions import ClientException

from reconciler.sandbox import Sandbox
from tests.test_conformance_sdk import v3_client

pytestmark = pytest.mark.filterwarnings(
    "ignore:datetime.datetime.utcnow\\(\\) is deprecated:DeprecationWarning"
)


def _error(call: object) -> ClientException:
    assert callable(call)
    with pytest.raises(ClientException) as caught:
        call()
    return caught.value


def test_sdk_drives_the_four_tag_calls(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    created = client.create_tag(dm.CreateTagRequest(tag_name="newsletter", tag_description="News"))
    tag_id = created.body.tag_id
    assert isinstance(tag_id, str) and tag_id.isdigit() and created.body.request_id
    client.create_tag(dm.CreateTagRequest(tag_name="alerts"))

    listed = client.query_tag_by_param(dm.QueryTagByParamRequest(page_no=1, page_size=50)).body
    assert (listed.page_number, listed.page_size, listed.total_count) == (1, 50, 2)
    assert [(t.tag_id, t.tag_name, t.tag_description) for t in listed.data.tag] == [
        (tag_id, "newsletter", "News"),
        (listed.data.tag[1].tag_id, "alerts", ""),
    ]
    assert all(isinstance(t.tag_id, str) for t in listed.data.tag)

    found = client.query_tag_by_param(dm.QueryTagByParamRequest(key_word="news")).body
    assert [t.tag_name for t in found.data.tag] == ["newsletter"]
    assert found.page_size == 10  # the default page without PageSize

    modified = client.modify_tag(
        dm.ModifyTagRequest(tag_id=int(tag_id), tag_name="monthly", tag_description="Monthly")
    )
    assert modified.body.request_id
    deleted = client.delete_tag(dm.DeleteTagRequest(tag_id=int(listed.data.tag[1].tag_id)))
    assert deleted.body.request_id
    assert sandbox.snapshot()["directmail"]["tags"] == [
        {"TagId": tag_id, "TagName": "monthly", "TagDescription": "Monthly"}
    ]
    assert sandbox.calls == {
        "CreateTag": 2,
        "QueryTagByParam": 2,
        "ModifyTag": 1,
        "DeleteTag": 1,
    }


def test_sdk_pages_tags_two_at_a_time(tmp_path: Path) -> None:
    with Sandbox(tmp_path / "state.json", list_page_size=2) as sandbox:
        client = v3_client(sandbox)
        for n in range(5):
            client.create_tag(dm.CreateTagRequest(tag_name=f"tag_{n}"))
        pages = [
            client.query_tag_by_param(dm.QueryTagByParamRequest(page_no=number, page_size=50)).body
            for number in (1, 2, 3, 4)
        ]
    assert [(p.page_number, p.page_size, p.total_count) for p in pages] == [
        (1, 2, 5),
        (2, 2, 5),
        (3, 2, 5),
        (4, 2, 5),
    ]
    assert [[t.tag_name for t in p.data.tag] for p in pages] == [
        ["tag_0", "tag_1"],
        ["tag_2", "tag_3"],
        ["tag_4"],
        [],
    ]


def test_sdk_sees_the_tag_errors(sandbox: Sandbox) -> None:
    client = v3_client(sandbox)
    client.create_tag(dm.CreateTagRequest(tag_name="newsletter"))
    duplicate = _error(lambda: client.create_tag(dm.CreateTagRequest(tag_name="newsletter")))
    assert (duplicate.code, duplicate.status_code) == ("InvalidTagName.Duplicate", 400)
    malformed = _error(lambda: client.create_tag(dm.CreateTagRequest(tag_name="a b")))
    assert malformed.code == "InvalidTagName.Malformed"
    gone = _error(lambda: client.delete_tag(dm.DeleteTagRequest(tag_id=99999)))
    assert (gone.code, gone.status_code) == ("InvalidTag.NotFound", 404)
    unnamed = _error(lambda: client.modify_tag(dm.ModifyTagRequest(tag_id=1, tag_description="x")))
    assert unnamed.code == "MissingParameter"
    paging = _error(lambda: client.query_tag_by_param(dm.QueryTagByParamRequest(page_no=0)))
    assert paging.code == "InvalidParameter"
    state = sandbox.snapshot()
    state["directmail"]["tags"] = [
        {"TagId": str(n), "TagName": f"t{n}", "TagDescription": ""} for n in range(1, 101)
    ]
    sandbox.set_state(state)
    full = _error(lambda: client.create_tag(dm.CreateTagRequest(tag_name="one_more")))
    assert full.code == "Tag.LimitExceeded"
