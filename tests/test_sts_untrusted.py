"""STS answers are untrusted like every provider answer: no redirect followed, a bounded read,
clean errors for answers that are not STS's."""

from __future__ import annotations

import json

import pytest

from reconciler.credentials import sts
from reconciler.errors import ProviderError
from tests.hostile import Answer, HostileServer

TOKEN = "oidc-token-b7f0c2"


def _oidc(url: str) -> dict[str, str]:
    return sts.assume_role_with_oidc(
        "dm", url, "acs:ram::1:role/read", "acs:ram::1:oidc-provider/gh", TOKEN, "s"
    )


def test_a_redirect_is_not_followed_and_the_token_goes_nowhere_else() -> None:
    with HostileServer() as target:
        redirect = Answer.redirect(target.url + "/", 307)
        with HostileServer(default=redirect) as server, pytest.raises(ProviderError) as caught:
            _oidc(server.url)
        assert target.requests == []
    assert "redirect, which is never followed" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_an_answer_over_the_bound_is_refused() -> None:
    big = Answer(200, b'{"x": "' + b"a" * (sts.ANSWER_LIMIT + 10) + b'"}')
    with HostileServer(default=big) as server, pytest.raises(ProviderError) as caught:
        _oidc(server.url)
    assert "larger than 64 KiB" in str(caught.value)


@pytest.mark.parametrize(
    ("answer", "says"),
    [
        (Answer(200, b"<html>proxy login</html>"), "not JSON"),
        (Answer.json({"Credentials": {"AccessKeyId": "k"}}), "no AccessKeyId"),
        (Answer.json({"Code": "AuthenticationFail.OIDCToken.Invalid", "Message": "bad"}), "bad"),
        (Answer(200, b"[" * 20000), "not JSON"),  # nested past the parser's recursion limit
    ],
    ids=["not-json", "no-keys", "error-code", "deeply-nested"],
)
def test_answers_that_are_not_keys_are_clean_errors(answer: Answer, says: str) -> None:
    with HostileServer(default=answer) as server, pytest.raises(ProviderError) as caught:
        _oidc(server.url)
    assert says in str(caught.value)


def test_keys_are_read_from_a_well_formed_answer() -> None:
    keys = {"AccessKeyId": "STS.k", "AccessKeySecret": "s", "SecurityToken": "t"}
    answer = Answer.json({"RequestId": "r", "Credentials": {**keys, "Expiration": "x"}})
    with HostileServer(default=answer) as server:
        got = _oidc(server.url)
        [request] = server.requests
    assert got == {"accessKeyId": "STS.k", "accessKeySecret": "s", "securityToken": "t"}
    assert request.form["Action"] == "AssumeRoleWithOIDC"
    assert json.dumps(request.form).count(TOKEN) == 1
