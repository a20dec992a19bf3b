"""The scripted server the hostile-provider tests rely on answers and records as scripted."""

from __future__ import annotations

import requests

from tests.hostile import Answer, HostileServer


def test_answers_in_turn_and_records_what_reached_it() -> None:
    answers: dict[str, Answer | list[Answer]] = {
        "GetIpProtection": Answer.json({"IpProtection": "1"}),
        "list": [Answer(500), Answer.json({"result": True})],
    }
    with HostileServer(answers=answers) as server:
        listing = server.url + "/apiv2/unintercept/list"
        assert requests.post(server.url + "/?Action=GetIpProtection").json() == {
            "IpProtection": "1"
        }
        assert requests.post(listing, data={"apiKey": "k"}).status_code == 500
        assert requests.post(listing, data={"apiKey": "k"}).json() == {"result": True}
        assert requests.post(server.url + "/?Action=Other").status_code == 404
    assert server.actions() == ["GetIpProtection", "list", "list", "Other"]
    assert server.requests[1].form == {"apiKey": "k"}
