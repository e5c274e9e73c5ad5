"""The installed env file: systemd's EnvironmentFile= syntax, and which value wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from control_api.errors import ConfigError
from control_api.settings import (
    ENV_FILE_VARIABLE,
    command_environment,
    load_settings,
    parse_env_file,
)

SHIPPED = Path(__file__).resolve().parents[3] / "packaging/control/control.env"


def test_the_shipped_file_carries_the_installed_defaults() -> None:
    values = parse_env_file(SHIPPED.read_text(), str(SHIPPED))
    assert values == {
        "LOMUZ_DATABASE_URL": "sqlite:////var/lib/lomuz-control/control.db",
        "LOMUZ_MEDIA_DIR": "/var/lib/lomuz-control/media",
        "LOMUZ_HTTP_HOST": "127.0.0.1",
        "LOMUZ_HTTP_PORT": "8080",
        "LOMUZ_HTTP_WORKERS": "2",
        "LOMUZ_HTTP_BACKPRESSURE": "1024",
    }
    settings = load_settings(values)
    assert settings.database_url == "sqlite:////var/lib/lomuz-control/control.db"
    assert settings.media_dir == Path("/var/lib/lomuz-control/media")


def test_comments_blanks_and_whitespace() -> None:
    text = (
        "# a comment\n"
        "   ; another, indented\n"
        "\n"
        "  A = one   \n"
        "B=\ttwo words\t \n"
        "EMPTY=\n"
        "HASH=a#b ;c\n"
        "A=again\n"
    )
    assert parse_env_file(text) == {
        "A": "again",  # the later assignment wins
        "B": "two words",
        "EMPTY": "",
        "HASH": "a#b ;c",  # only a line's first character makes a comment
    }


def test_quotes_as_systemd_reads_them() -> None:
    text = (
        "SINGLE='a \\\" $HOME \\n'\n"
        'DOUBLE="say \\"hi\\" \\\\ \\$HOME \\` \\n kept"\n'
        "MIXED=\"a \"'b '  c\n"
        'PADDED="  kept  "\n'
        'INNER=a"b"c\n'
    )
    assert parse_env_file(text) == {
        "SINGLE": 'a \\" $HOME \\n',
        "DOUBLE": 'say "hi" \\ $HOME ` \\n kept',
        "MIXED": "a b c",
        "PADDED": "  kept  ",
        "INNER": 'a"b"c',  # quotes only open at the start of a value
    }


def test_a_password_with_dollars_is_not_expanded() -> None:
    url = "postgresql+psycopg://lomuz:pa$word${X}@db:5432/lomuz"
    assert parse_env_file(f"LOMUZ_DATABASE_URL={url}\n") == {"LOMUZ_DATABASE_URL": url}


def test_escapes_and_continuation_lines() -> None:
    text = (
        "UNQUOTED=a\\ b\\\\c\\#\n"
        "JOINED=first \\\n"
        "second\n"
        'QUOTED="one \\\n'
        'two"\n'
        "MULTI='line one\n"
        "line two'\n"
        "LAST=no newline at the end"
    )
    assert parse_env_file(text) == {
        "UNQUOTED": "a b\\c#",
        "JOINED": "first second",
        "QUOTED": "one two",
        "MULTI": "line one\nline two",
        "LAST": "no newline at the end",
    }


def test_crlf_line_ends() -> None:
    assert parse_env_file("A=1\r\nB='2'\r\n# c\r\n") == {"A": "1", "B": "2"}


@pytest.mark.parametrize(
    ("text", "where", "message"),
    [
        ("A=1\nLOMUZ_DATABASE_URL\n", "f:2", "expected KEY=VALUE"),
        ("A=1\n\nexport B=2\n", "f:3", "not a variable name: 'export B'"),
        ("1A=x\n", "f:1", "not a variable name"),
        ("A=1\nB='never closed\nC=3\n", "f:2", "unterminated quote"),
        ('A="never closed', "f:1", "unterminated quote"),
        ("# see \\\nA=1\n", "f:1", "comment ending in a backslash"),
    ],
)
def test_what_systemd_would_skip_is_refused_naming_the_line(
    text: str, where: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse_env_file(text, "f")
    assert caught.value.key == where


# ---------------------------------------------------------------- precedence


def test_the_process_environment_wins_over_the_file(tmp_path: Path) -> None:
    env_file = tmp_path / "control.env"
    env_file.write_text("LOMUZ_DATABASE_URL=sqlite:////from/file.db\nLOMUZ_MEDIA_DIR=/m\n")
    found = command_environment(
        {
            ENV_FILE_VARIABLE: str(env_file),
            "LOMUZ_DATABASE_URL": "sqlite:////from/process.db",
            "LOMUZ_MEDIA_DIR": "",  # empty counts as unset: the file's value stays
            "OTHER": "x",
        }
    )
    assert found.env_file == env_file
    assert found.variables["LOMUZ_DATABASE_URL"] == "sqlite:////from/process.db"
    assert found.variables["LOMUZ_MEDIA_DIR"] == "/m"
    assert found.variables["OTHER"] == "x"


def test_a_missing_installed_file_is_a_development_checkout(tmp_path: Path) -> None:
    found = command_environment({"A": "1"}, installed=tmp_path / "absent.env")
    assert found.env_file is None
    assert found.variables == {"A": "1"}


def test_the_installed_file_is_read_without_the_variable(tmp_path: Path) -> None:
    installed = tmp_path / "control.env"
    installed.write_text("LOMUZ_MEDIA_DIR=/srv/media\n")
    found = command_environment({}, installed=installed)
    assert found.env_file == installed
    assert found.variables == {"LOMUZ_MEDIA_DIR": "/srv/media"}


def test_an_empty_variable_reads_no_file(tmp_path: Path) -> None:
    installed = tmp_path / "control.env"
    installed.write_text("LOMUZ_MEDIA_DIR=/srv/media\n")
    found = command_environment({ENV_FILE_VARIABLE: ""}, installed=installed)
    assert found.env_file is None
    assert "LOMUZ_MEDIA_DIR" not in found.variables


def test_a_named_file_that_is_missing_or_unreadable_is_bad_configuration(
    tmp_path: Path,
) -> None:
    with pytest.raises(ConfigError, match="does not exist") as caught:
        command_environment({ENV_FILE_VARIABLE: str(tmp_path / "absent.env")})
    assert caught.value.key == ENV_FILE_VARIABLE
    with pytest.raises(ConfigError, match="cannot read it"):
        command_environment({ENV_FILE_VARIABLE: str(tmp_path)})  # a directory
    (tmp_path / "latin1.env").write_bytes(b"A=caf\xe9\n")
    with pytest.raises(ConfigError, match="cannot read it"):
        command_environment({ENV_FILE_VARIABLE: str(tmp_path / "latin1.env")})


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "sqlite:////var/lib/lomuz-control/control.db",
            "sqlite:////var/lib/lomuz-control/control.db",
        ),
        (
            "postgresql+psycopg://lomuz:s3cret@db:5432/lomuz",
            "postgresql+psycopg://lomuz:***@db:5432/lomuz",
        ),
        ("postgresql+psycopg://lomuz:p@ss:w@db/lomuz", "postgresql+psycopg://lomuz:***@db/lomuz"),
        (
            "postgresql+psycopg://lomuz@db/lomuz?password=s3cret&sslmode=require",
            "postgresql+psycopg://lomuz@db/lomuz?password=***&sslmode=require",
        ),
        (
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
            "postgresql+psycopg://postgres@127.0.0.1:5432/test",
        ),
    ],
)
def test_the_database_url_is_shown_with_its_password_masked(url: str, shown: str) -> None:
    assert load_settings({"LOMUZ_DATABASE_URL": url}).masked_database_url() == shown
