"""YAML is read with limits, by every command that reads a config: a duplicated key, an alias
bomb and an oversized file are each one line naming the file, before anything runs."""

from __future__ import annotations

import pytest

from tests.boundary.harness import COMMANDS, assert_refused, before, pick, run

READERS = pick(
    "train",
    "extract",
    "predict",
    "align train",
    "align extract",
    "pretrain-mae",
    "config validate",
    "config show",
    "flow train",
    "flow vae_sae",
    "flow alignment",
    "flow sweep",
)


def duplicated_key(text: str) -> tuple[str, str]:
    first = text.split(":", 1)[0]
    return f"{text}\n{first}: null\n", first


def alias_bomb(text: str) -> tuple[str, None]:
    lines = ["lol0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"lol{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 10)]
    return text + "\n" + "\n".join(lines) + "\n", None


def oversized(text: str) -> tuple[str, None]:
    return text + ("# " + "x" * 1000 + "\n") * 11_000, None  # 11 MB of comments


@pytest.mark.parametrize("mutate", [duplicated_key, alias_bomb, oversized])
@pytest.mark.parametrize("command", READERS)
def test_yaml_read_with_limits(command, mutate, ws, capsys):
    cmd = COMMANDS[command]
    argv = cmd.argv(ws, ws.out, {})
    text, key = mutate(ws.config.read_text())
    ws.config.write_text(text)
    state = before(ws)
    line = assert_refused(ws, state, *run(cmd, argv, capsys), ws.config, key)
    if mutate is duplicated_key:
        assert "duplicated key (lines " in line
