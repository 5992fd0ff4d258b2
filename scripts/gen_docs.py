"""Write the generated parts of the docs; `--check` says which are stale (exit 1), writes nothing.

    python scripts/gen_docs.py [--check]

- docs/reference/config.md: every key of every config kind (from the pydantic schemas)
- docs/reference/params/: a page per registered model, loss and loader (from their params models)
- docs/benchmarks.md, between the gen:bench markers: the table of bench/results.json (`make bench`)
- README.md, between the gen:demo markers: docs/demo_summary.txt, the summary `make demo` recorded
- mkdocs.yml, between the gen:params markers: the nav entry of each parameter page
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alchemi_core import reference  # noqa: E402
from alchemi_core.config.reference import config_reference  # noqa: E402


def fmt(v: object) -> str:
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "yes" if v else "**no**"
    if isinstance(v, float):
        return f"{v:,.3f}".rstrip("0").rstrip(".") if abs(v) < 100 else f"{v:,.0f}"
    return str(v) or "-"


def bench_table(results: dict) -> str:
    keys = ("case", "baseline", "alchemi", "unit", "ratio", "target", "met")
    lines = [
        f"From `bench/results.json`: {results['mode']} mode, {results['threads']} thread, "
        f"{results['when']}" + (f" ({results['source']})" if results.get("source") else "") + ".",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
    ]
    for r in results["rows"]:
        lines.append("| " + " | ".join(fmt(r.get(k)) for k in keys) + " |")
    return "\n".join(lines)


def demo_block(summary: str) -> str:
    return "```\n" + summary.strip("\n") + "\n```"


def splice(text: str, name: str, body: str, where: str, mark: str = "<!-- {} -->") -> str:
    start, end = mark.format(f"gen:{name}"), mark.format(f"/gen:{name}")
    if start not in text or end not in text:
        raise SystemExit(f"error: {where}: no {start} ... {end} markers")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    indent = head[len(head.rstrip(" ")) :]  # the start marker's indent, for the end marker
    return f"{head}{start}\n{body}\n{indent}{end}{tail}"


def params_nav(pages: list[str], indent: str) -> str:
    """The nav entries of the parameter pages (mkdocs.yml), in the index's order."""
    return "\n".join(f"{indent}- {p.removesuffix('.md').split('-', 1)[1]}: reference/params/{p}"
                     for p in pages if p != "index.md")  # fmt: skip


def outputs() -> dict[Path, str]:
    out = {ROOT / "docs/reference/config.md": config_reference()}
    for name, page in reference.params_pages().items():
        out[ROOT / "docs/reference/params" / name] = page
    bench = ROOT / "docs/benchmarks.md"
    results = json.loads((ROOT / "bench/results.json").read_text())
    out[bench] = splice(bench.read_text(), "bench", bench_table(results), str(bench))
    readme = ROOT / "README.md"
    summary = (ROOT / "docs/demo_summary.txt").read_text()
    out[readme] = splice(readme.read_text(), "demo", demo_block(summary), str(readme))
    mkdocs = ROOT / "mkdocs.yml"
    pages = [p.name for p in out if p.parent.name == "params"]
    nav = params_nav(pages, " " * 10)
    out[mkdocs] = splice(mkdocs.read_text(), "params", nav, str(mkdocs), "# {}")
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--check", action="store_true", help="exit 1 when a generated part is stale")
    args = p.parse_args(argv)
    stale = []
    params_dir = ROOT / "docs/reference/params"
    wanted = outputs()
    extra = [f for f in params_dir.glob("*.md") if f not in wanted] if params_dir.exists() else []
    for path, text in wanted.items():
        if not path.exists() or path.read_text() != text:
            stale.append(path)
            if not args.check:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)
    for path in extra:
        stale.append(path)
        if not args.check:
            path.unlink()
    for path in stale:
        print(f"{'stale' if args.check else 'wrote'}: {path.relative_to(ROOT)}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
