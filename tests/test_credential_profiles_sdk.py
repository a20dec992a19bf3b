"""Our reading of the aliyun CLI's ``config.json`` agrees with the official
``alibabacloud-credentials`` library's, profile by profile (AK and StsToken modes, the
current profile and a named one). The library is a dependency of the test SDKs only."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from alibabacloud_credentials.provider import CLIProfileCredentialsProvider

from reconciler.credentials.chain import CLI_CONFIG, _profile

CONFIG = {
    "current": "laptop",
    "profiles": [
        {
            "name": "laptop",
            "mode": "AK",
            "access_key_id": "LTAI-laptop",
            "access_key_secret": "secret-laptop",
            "region_id": "cn-hangzhou",
        },
        {
            "name": "temporary",
            "mode": "StsToken",
            "access_key_id": "STS.temporary",
            "access_key_secret": "secret-temporary",
            "sts_token": "token-temporary",
            "region_id": "cn-hangzhou",
        },
    ],
}


@pytest.mark.parametrize("name", [None, "laptop", "temporary"])
def test_profiles_read_as_the_official_library_reads_them(tmp_path: Path, name: str | None) -> None:
    config = tmp_path / CLI_CONFIG
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps(CONFIG), encoding="utf-8")
    official = CLIProfileCredentialsProvider(
        profile_name=name or "", profile_file=str(config)
    ).get_credentials()
    ours = _profile("acct", name, {"HOME": str(tmp_path)})
    assert ours["accessKeyId"] == official.get_access_key_id()
    assert ours["accessKeySecret"] == official.get_access_key_secret()
    assert ours.get("securityToken") == official.get_security_token()
