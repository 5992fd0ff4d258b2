"""YAML -> validated config, with --set overrides and errors that name file and key."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from alchemi_core.config.schema import TrainingConfig
from alchemi_core.config.yaml_read import MAX_BYTES, YamlLimit, parse_yaml
from alchemi_core.errors import ConfigError
from alchemi_core.hints import did_you_mean
from alchemi_core.secrets import SECRET_KEYS, redact_uri

M = TypeVar("M", bound=BaseModel)
_KEY_PREFIX = re.compile(r"^([A-Za-z_][\w.]*): (.*)$", re.S)


def read_yaml(path: str | Path) -> dict[str, Any]:
    """A config file as a mapping, read with limits (yaml_read.py); errors name the file."""
    path = Path(path)
    if not path.exists():
        raise ConfigError("config file not found", path)
    if path.is_dir():
        raise ConfigError("is a folder, not a config file", path)
    if not path.is_file():
        raise ConfigError("is not a regular file", path)
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_BYTES + 1)
        if len(raw) > MAX_BYTES:
            raise YamlLimit(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
        data = parse_yaml(raw.decode("utf-8"))
    except YamlLimit as exc:
        where = exc.key or (f"line {exc.line}" if exc.line else None)
        raise ConfigError(exc.problem, path, where) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else None
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"invalid YAML: {problem}", path, where) from None
    except UnicodeDecodeError:
        raise ConfigError("not a text file", path) from None
    except RecursionError:
        raise ConfigError("nested too deeply", path) from None
    if data is None:
        raise ConfigError("config file is empty", path)
    if not isinstance(data, dict):
        raise ConfigError(f"top level must be a mapping, got {type(data).__name__}", path)
    return data


def _field_names(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def _submodel(model: type[BaseModel] | None, key: str) -> type[BaseModel] | None:
    """The pydantic model class of field `key` (through Optional), or None for free dicts."""
    if model is None:
        return None
    for name, field in model.model_fields.items():
        if key in (name, field.alias):
            ann = field.annotation
            for cand in (ann, *getattr(ann, "__args__", ())):
                if isinstance(cand, type) and issubclass(cand, BaseModel):
                    return cand
            return None
    return None


def _model_at(root: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    model: type[BaseModel] | None = root
    for part in loc:
        if not isinstance(part, str):
            continue
        model = _submodel(model, part)
    return model


def _format(err: dict, root: type[BaseModel]) -> tuple[str, str]:
    loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-")))
    key = ".".join(str(p) for p in loc)
    kind = err["type"]
    if kind == "extra_forbidden":
        parent = _model_at(root, loc[:-1])
        options = _field_names(parent) if parent else []
        return key, f"unknown key{did_you_mean(str(loc[-1]), options)}"
    if kind == "missing":
        return key, "required key is missing"
    msg = err["msg"].removeprefix("Value error, ")
    m = _KEY_PREFIX.match(msg)
    if m and "." in m.group(1):
        return m.group(1), m.group(2)
    secret = any(isinstance(p, str) and p in (*SECRET_KEYS, "tracking_uri") for p in loc)
    if (
        "input" in err
        and kind != "model_type"
        and not isinstance(err["input"], dict)
        and not secret
    ):
        msg = f"{msg} (got {redact_uri(repr(err['input']))})"
    return key, msg


def _allows_non_finite(root: type[BaseModel], loc: tuple) -> bool:
    """Whether the field at `loc` declares `Field(allow_inf_nan=True)` (free-form dicts: no)."""
    model: type[BaseModel] | None = root
    for part in loc:
        if model is None or not isinstance(part, str):
            return False
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        if field is None:
            return False
        if any(getattr(m, "allow_inf_nan", False) for m in field.metadata):
            return True
        model = _submodel(model, part)
    return False


def _non_finite(value: Any, loc: tuple = ()) -> Any:
    """(loc, value) of the first NaN or infinite number in nested dicts and lists, or None."""
    if isinstance(value, float) and not math.isfinite(value):
        return loc, value
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = _non_finite(item, (*loc, key))
        if found is not None:
            return found
    return None


def check_finite(data: Any, model: type[BaseModel], source: str | Path) -> None:
    """Every number in a config is finite, unless its field allows inf/nan: a NaN learning rate
    or an infinite weight would train to the end on non-finite weights."""
    found = _non_finite(data)
    if found is not None and not _allows_non_finite(model, found[0]):
        key = ".".join(str(p) for p in found[0])
        raise ConfigError(f"must be a finite number, got {found[1]}", source, key or None)


def validate(data: dict[str, Any], model: type[M], source: str | Path) -> M:
    check_finite(data, model, source)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        # A typo gives "unknown key" and "missing"; the unknown one (with its hint) goes first.
        errors = sorted(exc.errors(), key=lambda e: e["type"] != "extra_forbidden")
        key, msg = _format(errors[0], model)
        more = len(errors) - 1
        if more:
            msg += f" (+{more} more problem{'s' if more > 1 else ''}; -v lists them)"
        exc = ConfigError(msg, source, key or None)
        for other in errors[1:]:
            k, m = _format(other, model)
            exc.others.append(ConfigError(m, source, k or None).line())
        raise exc from None


def _check_override_key(path: list[str], root: type[BaseModel], label: str) -> None:
    model: type[BaseModel] | None = root
    for i, part in enumerate(path):
        if model is None:
            return  # inside a free-form dict (params, loader_params extras): any key goes
        names = _field_names(model)
        if part not in names and model.model_config.get("extra") != "allow":
            raise ConfigError(
                f"unknown key{did_you_mean(part, names)}", label, ".".join(path[: i + 1])
            )
        model = _submodel(model, part)


def set_dotted(data: dict[str, Any], dotted: str, value: Any, label: str = "--set") -> None:
    """data["a"]["b"]["c"] = value for "a.b.c", making missing mappings on the way."""
    path = dotted.strip().split(".")
    node = data
    for i, part in enumerate(path[:-1]):
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            key = ".".join(path[: i + 1])
            raise ConfigError("is not a mapping, cannot set a key inside it", label, key)
        node = nxt
    node[path[-1]] = value


def apply_overrides(
    data: dict[str, Any], overrides: list[str], root: type[BaseModel] | None
) -> None:
    """`--set dotted.key=value` (value parsed as YAML), each key checked against `root`."""
    for spec in overrides:
        if "=" not in spec:
            raise ConfigError("expected dotted.key=value", "--set")
        dotted, raw = spec.split("=", 1)
        label = "--set"  # never echo the value: it may be a password
        path = dotted.strip().split(".")
        if not all(path):
            raise ConfigError("empty key", label)
        if root is not None:
            _check_override_key(path, root, label)
        try:
            value = parse_yaml(raw) if raw.strip() else ""
        except yaml.YAMLError:
            value = raw
        set_dotted(data, dotted, value, label)


def load_config(
    path: str | Path, overrides: list[str] | None = None, model: type[M] = TrainingConfig
) -> M:
    data = read_yaml(path)
    apply_overrides(data, list(overrides or []), model)
    return validate(data, model, path)
