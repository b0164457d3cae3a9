"""The core names no plugin: providers and reporters are found through their entry points,
and the default provider is a setting or the provider's own claim (issue 13)."""

from __future__ import annotations

import re
from pathlib import Path

from hub.plugin_host import PluginHost
from hub.settings import Settings

HUB = Path(__file__).resolve().parent.parent / "hub"
PLUGIN_NAMES = ("self_hosted", "tencent", "aliyun", "external_link", "webhook", "iati")


def test_no_plugin_name_is_written_in_the_core() -> None:
    found = []
    for path in sorted(HUB.rglob("*")):
        if path.suffix not in {".py", ".html"} or "migrations" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for name in PLUGIN_NAMES:
                if re.search(rf"[\"']{name}[\"']", line):
                    found.append(f"{path.relative_to(HUB.parent)}:{number}: {line.strip()}")
    assert found == []


def test_the_default_provider_is_the_setting_else_the_provider_that_claims_it() -> None:
    claimed = PluginHost(Settings())
    assert claimed.default_provider() == "self_hosted"  # its plugin says default_choice
    assert claimed.chosen_provider("") == "self_hosted"
    assert claimed.chosen_provider("external_link") == "external_link"
    chosen = PluginHost(Settings(default_provider="external_link"))
    assert chosen.chosen_provider("") == "external_link"
