"""Settings declared once (pydantic models), listed and edited by `society config`, and
errors a user can fix as one line from any command."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from society.cli import app
from society.models.config import ConfigError
from society.paths import data_dir
from society.tools.settings import load_settings

runner = CliRunner()


def society(*args: str):
    return runner.invoke(app, list(args))


def test_config_show_lists_every_setting_with_its_default():
    shown = society("config", "show", "--json")
    assert shown.exit_code == 0, shown.output
    values = json.loads(shown.stdout)
    assert values["tools.limits.timeout_s"] == 30.0 and values["tools.policies.fetch_private"] == "ask"
    assert values["memory.recall_limit"] == 5 and values["learning.every_interactions"] == 100


def test_config_set_keeps_a_good_value_and_refuses_a_bad_one_leaving_the_file_as_it_was():
    assert society("config", "set", "tools.limits.timeout_s", "12").exit_code == 0
    assert load_settings().limits.timeout_s == 12
    before = (data_dir() / "tools.json").read_text()
    bad = society("config", "set", "tools.limits.timeout_s", "soon")
    assert bad.exit_code == 2
    assert "field 'limits.timeout_s'" in bad.stderr and len(bad.stderr.strip().splitlines()) == 1
    assert (data_dir() / "tools.json").read_text() == before
    unknown = society("config", "set", "tools.limits.speed", "3")
    assert unknown.exit_code == 2 and "unknown setting" in unknown.stderr


@pytest.mark.parametrize(
    "content, named",
    [
        ('{"limits": {"timeout_s": "5"}}', "field 'limits.timeout_s'"),
        ('{"limits": {"timeout_s": -1}}', "greater than 0"),
        ('{"policies": {"read_file": "maybe"}}', "field 'policies.read_file'"),
        ('{"colour": "red"}', "unknown setting 'colour'"),
        ('{"search": {"provider": "searxng"}}', "searxng_url"),
        ("[1, 2]", "must hold one JSON object"),
    ],
)
def test_a_bad_tools_file_is_one_line_naming_the_field(content, named):
    (data_dir() / "tools.json").write_text(content)
    with pytest.raises(ConfigError, match=named.replace("(", r"\(")) as err:
        load_settings()
    assert "\n" not in str(err.value) and "tools.json" in str(err.value)
    shown = society("tools")
    assert shown.exit_code == 2 and shown.stderr.strip().startswith("society: error:")


def test_a_learning_error_is_one_line_not_a_traceback():
    missing = society("deploy", "no-such-adapter")
    assert missing.exit_code == 2
    assert missing.stderr.strip() == "society: error: no adapter named 'no-such-adapter'; see `society lineage`"


def test_a_bad_choice_is_refused_by_the_command_itself():
    assert society("tools", "policy", "read_file", "maybe").exit_code == 2
    assert society("memory", "search", "x", "--mode", "fuzzy").exit_code == 2
