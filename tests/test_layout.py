"""The code's shape: modules stay small and no module imports itself round a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGES = ("alchemi_core", "tasks", "flows")
MAX_LINES = 300


def modules() -> dict[str, Path]:
    found = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def imports(name: str, path: Path, known: set[str]) -> set[str]:
    """The project modules `path` imports anywhere in it (function-level imports included)."""
    out = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m in known and m != name}


def test_no_module_over_the_line_limit():
    long = {
        str(p.relative_to(ROOT)): n
        for p in modules().values()
        if (n := len(p.read_text().splitlines())) > MAX_LINES
    }
    assert not long, f"modules over {MAX_LINES} lines: {long}"


def test_no_import_cycle():
    mods = modules()
    graph = {name: imports(name, path, set(mods)) for name, path in mods.items()}
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                return [*stack[stack.index(n) :], n]
            if n not in state and (cycle := visit(n)):
                return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (cycle := visit(m)):
            raise AssertionError("import cycle: " + " -> ".join(cycle))


def test_the_cycle_check_sees_a_cycle(tmp_path):
    a, b = tmp_path / "a.py", tmp_path / "b.py"
    a.write_text("def f():\n    from pkg import b\n")
    b.write_text("from pkg.a import f\n")
    known = {"pkg.a", "pkg.b"}
    assert imports("pkg.a", a, known) == {"pkg.b"} and imports("pkg.b", b, known) == {"pkg.a"}


LIFECYCLE = {
    "folder",
    "identity",
    "resume",
    "payload",
    "session",
    "checkpoints",
    "tracking",
    "runner",
}
STACKS = ("tabular", "alignment", "mae")
GONE = ("training", "models", "losses", "spectral", "commands")


def test_the_layout_shows_one_lifecycle_then_one_package_per_stack():
    core = ROOT / "alchemi_core"
    run = {p.stem for p in (core / "run").glob("*.py")}
    assert LIFECYCLE <= run, f"alchemi_core/run/ lacks {sorted(LIFECYCLE - run)}"
    for stack in STACKS:
        assert (core / stack / "__init__.py").is_file(), f"no package alchemi_core/{stack}/"
    stray = [n for n in GONE if (core / n).exists()]
    assert not stray, f"packages of the old layout: {stray}"
    top = {p.stem for p in core.glob("*.py")}
    stacky = sorted(n for n in top if n.startswith(("align", "mae", "vae", "sae", "tabular")))
    assert not stacky, f"stack modules outside their package: {stacky}"


def test_both_spectral_stacks_use_the_one_set_encoder():
    mods = modules()
    users = {
        name.split(".")[1]
        for name, path in mods.items()
        if "alchemi_core.nn.set_encoder" in imports(name, path, set(mods))
    }
    assert {"alignment", "mae"} <= users, users
    copies = [n for n in mods if n.endswith("set_encoder") and n != "alchemi_core.nn.set_encoder"]
    assert not copies, copies


def test_one_runner_and_no_stack_specific_run_module():
    """Every stack runs through run/runner.py with a recipe; run/ knows no stack."""
    mods = modules()
    for stack in STACKS:
        names = {n.rsplit(".", 1)[1] for n in mods if n.startswith(f"alchemi_core.{stack}.")}
        assert "recipe" in names, f"alchemi_core/{stack}/ has no recipe.py"
        stray = sorted(n for n in names if n == "run" or n.endswith(("_run", "folder", "fit")))
        assert not stray, f"alchemi_core/{stack}/ has its own run modules: {stray}"
    for name, path in mods.items():
        if name.startswith("alchemi_core.run"):
            stacks = {
                m for m in imports(name, path, set(mods)) if "." in m and m.split(".")[1] in STACKS
            }
            assert not stacks, f"{name} imports a stack: {sorted(stacks)}"
