"""Markdown reference pages from the pydantic schemas: every config key, every registered class.

    from alchemi_core.reference import params_page
    print(params_page("model", "TinyAutoencoder"))   # a plugin's page, after importing it

(The config reference, one table per config kind: alchemi_core/config/reference.py.)

A row is: key, type, default, constraint, meaning. The meaning is the field's `description`,
else the comment at the end of its line in the source (`name: int = 2  # what it is`).
"""

from __future__ import annotations

import ast
import functools
import inspect
import re
import types
import typing
from pathlib import Path
from typing import Any, Literal, Union

from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

BOUNDS = {"gt": ">", "ge": ">=", "lt": "<", "le": "<=", "min_length": "len >=",
          "max_length": "len <=", "multiple_of": "multiple of"}  # fmt: skip
COMMENT = re.compile(r"^\s+(\w+)\s*:[^#]*#\s*(.+?)\s*$")
FIELD = re.compile(r"^\s+(\w+)\s*:")


@functools.cache
def _classes(filename: str) -> dict[str, list[str]]:
    """Source lines of each top-level class of a module file (parsed once)."""
    lines = Path(filename).read_text().splitlines()
    return {
        node.name: lines[node.lineno - 1 : node.end_lineno]
        for node in ast.parse("\n".join(lines)).body
        if isinstance(node, ast.ClassDef)
    }


def _source(cls: type) -> list[str]:
    try:
        return _classes(inspect.getsourcefile(cls) or "").get(cls.__qualname__, [])
    except (OSError, TypeError, SyntaxError):
        return []


def _comments(model: type) -> dict[str, str]:
    """Trailing `# comment` of each field line, over the class and its bases."""
    found: dict[str, str] = {}
    for cls in reversed(model.__mro__):
        if not (isinstance(cls, type) and issubclass(cls, BaseModel)) or cls is BaseModel:
            continue
        above: list[str] = []
        for line in _source(cls):
            text = line.strip()
            if text.startswith("#"):
                above.append(text.lstrip("# "))
                continue
            m, field = COMMENT.match(line), FIELD.match(line)
            if m:
                found[m.group(1)] = m.group(2)
            elif field and above:
                found[field.group(1)] = " ".join(above)
            above = []
    return found


def _bounds(metadata: list) -> list[str]:
    out = []
    for m in metadata:
        for attr, sign in BOUNDS.items():
            value = getattr(m, attr, None)
            if value is not None:
                out.append(f"{sign} {value}")
        if getattr(m, "pattern", None):
            out.append(f"matches `{m.pattern}`")
    return out


def type_name(tp: Any) -> tuple[str, list[str]]:
    """A readable type and the constraints found inside it (PositiveInt -> int, > 0)."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        name, inner = type_name(args[0])
        return name, inner + _bounds(list(args[1:]))
    if origin in (Union, types.UnionType):
        parts = [type_name(a) for a in args if a is not type(None)]
        names = " | ".join(p[0] for p in parts) + (" | null" if type(None) in args else "")
        return names, [c for p in parts for c in p[1]]
    if origin is Literal:
        return " | ".join(f"`{a}`" if isinstance(a, str) else str(a) for a in args), []
    if origin in (list, tuple, set):
        inner = [type_name(a) for a in args if a is not Ellipsis]
        return f"list[{', '.join(i[0] for i in inner)}]", [c for i in inner for c in i[1]]
    if origin is dict:
        k, v = (type_name(a)[0] for a in args) if args else ("str", "any")
        return f"map[{k}, {v}]", []
    if tp is Any:
        return "any", []
    if isinstance(tp, type) and issubclass(tp, SecretStr):
        return "secret str", []
    return getattr(tp, "__name__", str(tp)), []


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    if field.default_factory is not None:
        value = field.default_factory()
    else:
        value = field.default
    if value is PydanticUndefined:
        return "required"
    if isinstance(value, BaseModel):
        return "(section)"
    if value is None:
        return "null"
    return f"`{value!r}`".replace("'", '"') if not isinstance(value, bool) else f"`{value}`"


def _models_in(tp: Any) -> list[type[BaseModel]]:
    """The pydantic models a field's type holds (directly, optional, or as list items)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    return [m for a in typing.get_args(tp) for m in _models_in(a)]


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def rows(
    model: type[BaseModel], prefix: str = "", skip: tuple = ()
) -> list[tuple[str, str, str, str, str]]:
    """(key, type, default, constraint, meaning) per field, nested sections as dotted keys
    (not the sections in `skip`, documented elsewhere)."""
    notes = _comments(model)
    out = []
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        tp, inner = type_name(field.annotation)
        constraint = ", ".join(inner + _bounds(field.metadata)) or ""
        meaning = field.description or notes.get(name, "")
        sub = _models_in(field.annotation)
        if sub:
            tp = "section" + (" (list)" if typing.get_origin(field.annotation) is list else "")
            tp += "" if field.is_required() else ", optional"
            doc = inspect.getdoc(sub[0]) if sub[0].__doc__ else ""
            meaning = meaning or (doc.splitlines()[0] if doc else "")
        out.append((key, tp, _default(field), constraint, meaning))
        origin = typing.get_origin(field.annotation)
        items = "[]" if origin is list else ".<key>" if origin is dict else ""
        for s in sub:
            if s not in skip:
                out += rows(s, f"{key}{items}.", skip)
    return out


def table(model: type[BaseModel], prefix: str = "", skip: tuple = ()) -> str:
    lines = ["| key | type | default | constraint | meaning |", "|---|---|---|---|---|"]
    for key, tp, default, constraint, meaning in rows(model, prefix, skip):
        cells = [f"`{key}`", tp, default, constraint, meaning]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)


def _registry(kind: str):
    from alchemi_core.registry import DATALOADERS, LOSSES, MODELS

    return {"model": MODELS, "loss": LOSSES, "dataloader": DATALOADERS}[kind]


def _signature_table(cls: Any) -> str:
    lines = ["| key | type | default |", "|---|---|---|"]
    for p in list(inspect.signature(cls).parameters.values()):
        if p.name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        ann = p.annotation if p.annotation is not p.empty else Any
        ann = ann if isinstance(ann, str) else type_name(ann)[0]
        default = "required" if p.default is p.empty else f"`{p.default!r}`"
        lines.append(f"| `{p.name}` | {_cell(ann)} | {default} |")
    return "\n".join(lines)


def params_page(kind: str, name: str) -> str:
    """The Markdown page of a registered model, loss or dataloader's params (`kind` is one of
    model, loss, dataloader); a class without a params model gets its constructor's arguments."""
    reg = _registry(kind)
    entry = reg.entry(name)
    key = {"model": "model.params", "loss": "loss.params", "dataloader": "loader_params"}[kind]
    doc = inspect.cleandoc(entry.cls.__dict__.get("__doc__") or "")
    head = [
        f"# {name}",
        "",
        f"A registered {kind} (`{entry.cls.__module__}.{entry.cls.__name__}`).",
    ]
    if doc:
        head += ["", doc.split("\n\n")[0]]
    if entry.params is None:
        body = ["", f"No params model: `{key}` is checked against the constructor's arguments.",
                "", _signature_table(entry.cls)]  # fmt: skip
    else:
        pdoc = inspect.cleandoc(entry.params.__dict__.get("__doc__") or "")
        body = ["", f"`{key}`, checked when the config loads (`{entry.params.__name__}`)."]
        body += ["", pdoc.split("\n\n")[0]] if pdoc else []
        body += ["", table(entry.params)]
    return "\n".join(head + body) + "\n"


def registered(kind: str) -> list[str]:
    return _registry(kind).names()


KINDS = ("model", "loss", "dataloader")


def params_pages(imports: tuple[str, ...] = ()) -> dict[str, str]:
    """{file name: page} for every built-in model, loss and loader, plus an index; `imports`
    are plugin modules to import first (their classes get pages the same way)."""
    import importlib

    for module in imports:
        importlib.import_module(module)
    pages, index = {}, ["# Parameters", "", "One page per registered class, generated from its "
                        "params model (`scripts/gen_docs.py`; a plugin's: "
                        "`alchemi_core.reference.params_page(kind, name)`).", ""]  # fmt: skip
    for kind in KINDS:
        index += [f"## {kind.capitalize()}s" if kind != "loss" else "## Losses", ""]
        for name in registered(kind):
            module = _registry(kind).get(name).__module__
            if not (module.startswith("alchemi_core.") or module in imports):
                continue  # another module's class, registered in this process: not asked for
            pages[f"{kind}-{name}.md"] = params_page(kind, name)
            index.append(f"- [{name}]({kind}-{name}.md)")
        index.append("")
    pages["index.md"] = "\n".join(index)
    return pages
