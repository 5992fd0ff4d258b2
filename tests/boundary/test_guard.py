"""boundary.guard, the one error boundary every command and flow runs in: what each kind of
exception becomes on stderr and as the exit code."""

from __future__ import annotations

import errno

import pytest

from alchemi_core import secrets
from alchemi_core.boundary import OS_PROBLEMS, guard
from alchemi_core.errors import ConfigError


def fails(exc: BaseException):
    def command():
        raise exc

    return command


@pytest.mark.parametrize("code", sorted(OS_PROBLEMS))
def test_an_os_error_on_a_file_is_a_user_error_naming_it(code, capsys):
    rc = guard(fails(OSError(code, "raw os text", "/data/x.csv")), source="cfg.yaml")
    err = capsys.readouterr().err
    assert rc == 2 and err == f"error: /data/x.csv: {OS_PROBLEMS[code]}\n"


def test_an_os_error_naming_no_file_names_the_command_config(capsys):
    assert guard(fails(OSError(errno.ENOSPC, "No space left")), source="cfg.yaml") == 2
    assert capsys.readouterr().err == "error: cfg.yaml: no space left on the device\n"


def test_a_user_error_raised_from_deep_inside_keeps_its_line(capsys):
    def command():
        raise RuntimeError("wrapped") from ConfigError("bad", "cfg.yaml", "a.b")

    assert guard(command) == 2
    assert capsys.readouterr().err == "error: cfg.yaml: a.b: bad\n"


def test_a_bug_is_one_line_exit_1_and_the_traceback_only_with_verbose(capsys):
    secrets.remember("hunter2-secret")
    boom = fails(RuntimeError("bug with hunter2-secret\nsecond line"))
    assert guard(boom, source="cfg.yaml") == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "hunter2-secret" not in err
    assert err.startswith("error: cfg.yaml: internal error (RuntimeError: bug with ***")
    assert guard(boom, source="cfg.yaml", verbose=True) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "hunter2-secret" not in err


def test_interrupt_is_130(capsys):
    assert guard(fails(KeyboardInterrupt())) == 130
    assert capsys.readouterr().err == "interrupted\n"
