"""YAML text -> Python values, with limits: YAML 1.2 numbers, no duplicated keys, bounded
alias expansion and file size. Every config reader goes through parse_yaml (or read_yaml)."""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_BYTES = 2 * 1024 * 1024  # a config file larger than this is refused before parsing
MAX_NODES = 200_000  # values after expanding every alias (a 9^10 "billion laughs" is far more)
MAX_DEPTH = 200  # nesting levels (PyYAML's scanner slows down quadratically with flow depth)


class YamlLimit(yaml.YAMLError):
    """A document that parses but is refused: `key` (dotted) and `line` say where."""

    def __init__(self, problem: str, key: str | None = None, line: int | None = None):
        super().__init__(problem)
        self.problem, self.key, self.line = problem, key, line


class Yaml12Loader(yaml.SafeLoader):
    """PyYAML's safe loader, but numbers with an exponent and no dot (`1e-08`, `5e-4`, `1E6`)
    are floats, as in YAML 1.2 (PyYAML's YAML 1.1 rule reads them as strings). Nesting is
    bounded by MAX_DEPTH."""

    _depth = 0

    def fetch_flow_collection_start(self, token_class) -> None:
        if self.flow_level >= MAX_DEPTH:
            raise YamlLimit(f"nested deeper than {MAX_DEPTH} levels", None, self.line + 1)
        super().fetch_flow_collection_start(token_class)

    def compose_node(self, parent, index):
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise YamlLimit(f"nested deeper than {MAX_DEPTH} levels", None, self.line + 1)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


Yaml12Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)[eE][-+]?[0-9]+$"),
    list("-+.0123456789"),
)

MERGE = "tag:yaml.org,2002:merge"


def _key_name(node: Node) -> str:
    return str(node.value) if not isinstance(node.value, list) else "<complex key>"


def check_node(root: Node) -> None:
    """Refuse duplicated keys and documents whose aliases expand past MAX_NODES values."""
    sizes: dict[int, int] = {}
    open_: set[int] = set()

    def size(node: Node, path: str) -> int:
        ident = id(node)
        if ident in sizes:  # an alias: counted again, walked once
            return sizes[ident]
        if ident in open_:
            raise YamlLimit("an alias refers to itself", path or None, node.start_mark.line + 1)
        open_.add(ident)
        total = 1
        if isinstance(node, MappingNode):
            seen: dict[str, int] = {}
            for key, value in node.value:
                name = _key_name(key)
                child = f"{path}.{name}" if path else name
                if key.tag != MERGE:
                    line = key.start_mark.line + 1
                    if name in seen:
                        raise YamlLimit(
                            f"duplicated key (lines {seen[name]} and {line})", child, line
                        )
                    seen[name] = line
                total += size(key, child) + size(value, child)
        elif isinstance(node, SequenceNode):
            for i, item in enumerate(node.value):
                total += size(item, f"{path}[{i}]")
        if total > MAX_NODES:
            raise YamlLimit(f"aliases expand to more than {MAX_NODES} values", path or None, None)
        open_.discard(ident)
        sizes[ident] = total
        return total

    size(root, "")


def parse_yaml(text: str) -> Any:
    """YAML text -> Python values (YAML 1.2 numbers), checked by check_node first."""
    if len(text) > MAX_BYTES:
        raise YamlLimit(f"larger than {MAX_BYTES // (1024 * 1024)} MB")
    loader = Yaml12Loader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_node(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()
