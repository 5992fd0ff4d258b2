"""Write the generated parts of the docs; `--check` says which are stale (exit 1), writes nothing.

    python scripts/gen_docs.py [--check]

- docs/reference/config.md: every key of every config kind (from the pydantic schemas)
- docs/reference/params/: a page per registered model, loss and loader (from their params models)
- docs/benchmarks.md, between the gen:bench markers: the table of bench/results.json (`make bench`)
- docs/vae.md, between the gen:quality markers: the VAE-vs-PCA table of bench/quality.json
  (bench/quality.py), and between the gen:spikes markers the spike grid of bench/spikes.jsonl
- docs/alignment-quality.md, between the gen:align-retrieval and gen:align-transfer markers: the
  tables of bench/alignment_quality.json (bench/alignment_quality.py)
- docs/sae.md, between the gen:sae-frontier markers: the tables of bench/sae_frontier.json
  (bench/sae_frontier.py)
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


def table(head: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def bench_table(results: dict) -> str:
    keys = ["case", "baseline", "alchemi", "unit", "ratio", "target", "met"]
    head = (f"From `bench/results.json`: {results['mode']} mode, {results['threads']} thread, "
            f"{results['when']}" + (f" ({results['source']})" if results.get("source") else "") + ".")  # fmt: skip
    rows = [[fmt(r.get(k)) for k in keys] for r in results["rows"]]
    if results["when"] == "per row":  # a --merge: each row says when and how it was measured
        keys.append("measured")
        for cells, r in zip(rows, results["rows"], strict=True):
            cells.append(f"{str(r.get('when') or '-')[:10]}, {r.get('mode') or '-'}")
    return head + "\n\n" + table(keys, rows)


def sig(v: float) -> str:
    return f"{v:#.3g}"


def sources(entries: list[dict], what: str = "") -> str:
    """Where figures come from: each distinct command with its time, duration and load."""
    seen: dict[str, list[dict]] = {}
    for e in entries:
        seen.setdefault(e["command"], []).append(e)
    out = []
    for cmd, es in seen.items():
        names = ", ".join(e[what] for e in es) if what else ""
        when = " to ".join(sorted({min(e["when"] for e in es), max(e["when"] for e in es)}))
        secs = sum(e.get("seconds") or 0 for e in es)
        out.append(
            f"- {names + ': ' if names else ''}`{cmd}` ({when}, {secs:,} s; {es[0]['source']})"
        )
    return "\n".join(out)


def verdict(case: dict) -> str:
    if case["quick"]:
        return "quick run: no verdict"
    pca, vae = case["pca"], case["median"]
    worse = []
    if vae["mse"] > pca["mse"]:
        r = vae["mse"] / pca["mse"]
        worse.append(f"loses MSE by {r - 1:.0%}" if r < 2 else f"loses MSE ({r:.0f}x PCA's)")
    if vae["acc"] < pca["acc"]:
        worse.append(f"loses accuracy by {(pca['acc'] - vae['acc']) * 100:.1f} points")
    return "; ".join(worse) or "wins both"


def quality_block(q: dict) -> str:
    """docs/vae.md's table of bench/quality.json: VAE against PCA per table (first seed, then
    the median when there are more), each multi-seed table's figures per seed, the commands."""
    rows, seeds = [], []
    for name, c in q["tables"].items():
        lv = c["levels"]
        levels = f"{min(lv)}-{max(lv)}" if min(lv) != max(lv) else f"{lv[0]}"
        cols = f"{c['numerical']} num + {len(lv)} cat ({levels} levels)"
        first, pca = c["vae"][0], c["pca"]
        label = f"{name}, seed {first['seed']}"
        rows.append([label, f"{c['train_rows']:,}", cols, "yes" if c["tuned_on"] else "no",
                     sig(pca["mse"]), sig(first["mse"]), f"{pca['acc']:.3f}", f"{first['acc']:.3f}",
                     verdict({**c, "median": first})])  # fmt: skip
        if len(c["vae"]) > 1:
            s = "/".join(str(v["seed"]) for v in c["vae"])
            rows.append([f"{name}, median of seeds {s}", "", "", "", sig(pca["mse"]),
                         sig(c["median"]["mse"]), f"{pca['acc']:.3f}", f"{c['median']['acc']:.3f}",
                         verdict(c)])  # fmt: skip
            each = {k: " / ".join(f"{v[k]:.3f}" if k != "epochs" else str(v[k]) for v in c["vae"])
                    for k in ("mse", "acc", "epochs")}  # fmt: skip
            seeds.append(f"- {name} over seeds {s}: numerical MSE {each['mse']}, accuracy "
                         f"{each['acc']}, {each['epochs']} epochs")  # fmt: skip
    head = ["table", "rows (train)", "columns", "tuned on", "PCA MSE", "VAE MSE", "PCA acc",
            "VAE acc", "verdict"]  # fmt: skip
    entries = list(q["tables"].values())
    return "\n\n".join(
        [f"From `bench/quality.json` (test split; PCA with as many components as the VAE's latent, "
         f"{', '.join(sorted({str(c['latent']) for c in entries}))}):",
         table(head, rows), "\n".join(seeds), "Produced by:\n\n" + sources(entries, "table")]
    ).replace("\n\n\n\n", "\n\n")  # fmt: skip


def align_retrieval(a: dict) -> str:
    """Held-out sensors at 3% noise: the model, its sensor space (alone and fused with its
    cycle head) and the re-ranking against the physics limit."""
    every = a["retrieval"]
    held = [r for r in every if r["split"] == "held-out" and r["noise"] == "3%"]
    modes = (
        ("ours_top1", "the model's `top1`", "model"),
        ("space_top1", "`sensor_space_top1`", "sensor space"),
        ("space_fused_top1", "`sensor_space_fused_top1`", "sensor space fused"),
        ("rerank_top1", "`rerank_top1`", "rerank"),
    )
    head = ["sensor", "model `top1`", "model recall@5", "`sensor_space_top1`",
            "`sensor_space_fused_top1`", "`rerank_top1`", "`physics_top1`",
            *(f"{short} / physics" for _, _, short in modes)]  # fmt: skip
    keys = ("ours_top1", "ours_r@5", "space_top1", "space_fused_top1", "rerank_top1",
            "physics_top1")  # fmt: skip
    rows = [[r["sensor"], *(f"{r[k]:.3f}" for k in keys),
             *(f"{r[k] / max(r['physics_top1'], 1e-9):.2f}" for k, _, _ in modes)]
            for r in held]  # fmt: skip
    n = held[0]["n"] if held else 0
    goals = [f"- {what} >= 0.9 of `physics_top1`: {sum(r[k] >= 0.9 * r['physics_top1'] for r in held)} of {len(held)} sensors"
             for k, what, _ in modes]  # fmt: skip
    gain = [r["space_fused_top1"] - r["space_top1"] for r in every]
    noises = ", ".join(dict.fromkeys(r["noise"] for r in every))
    goals.append(f"- `sensor_space_fused_top1` against `sensor_space_top1`, every sensor (training and held-out) "
                 f"at {noises} noise: higher in {sum(g > 0 for g in gain)}, equal in {sum(g == 0 for g in gain)}, "
                 f"lower in {sum(g < 0 for g in gain)} of {len(gain)} cases")  # fmt: skip
    return (f"From `bench/alignment_quality.json`:\n\n{sources([a])}\n\nTop-1 among {n:,} validation spectra:\n\n{table(head, rows)}\n\n"
            + "\n".join(goals))  # fmt: skip


def align_transfer(a: dict) -> str:
    """Every held-out transfer case, then how many meet the goals and the narrowest margins."""
    m = a["transfer"]
    head = ["sensor", "labels", "noise", "ours", "ours, emb", "oracle (a)", "bridge (b)",
            "physics (c)", "majority"]  # fmt: skip
    keys = ("ours", "ours_emb", "oracle", "bridge", "physics", "majority")
    rows = [[r["sensor"], r["labels"], r["noise"], *(f"{r[k]:.3f}" for k in keys)] for r in m]

    def where(r: dict) -> str:
        return f"{r['sensor']}, {r['labels']}, {r['noise']}"

    bridge = min(m, key=lambda r: r["ours"] - r["bridge"])
    physics = max(m, key=lambda r: r["physics"] - r["ours"])
    goals = [
        f"- ours >= bridge (b): {sum(r['ours'] >= r['bridge'] for r in m)} of {len(m)} cases; the "
        f"smallest margin {(bridge['ours'] - bridge['bridge']) * 100:.1f} points ({where(bridge)})",
        f"- ours within 5 points of physics (c): {sum(r['physics'] - r['ours'] <= 0.05 for r in m)} "
        f"of {len(m)}; the widest gap {(physics['physics'] - physics['ours']) * 100:.1f} points "
        f"({where(physics)})",
        f"- the embedding alone >= bridge (b): {sum(r['ours_emb'] >= r['bridge'] for r in m)} of {len(m)}",
    ]  # fmt: skip
    head_line = f"From `bench/alignment_quality.json` (the same run), {a['when']}:"
    return f"{head_line}\n\n{table(head, rows)}\n\n" + "\n".join(goals)


def spikes_block(results: Path) -> str:
    """docs/vae.md's spike grid: bench/spikes.py's matrix of `results` (bench/spikes.jsonl),
    a column per threads x seed that has a run, and the worst cell."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    import spikes

    cells = list(spikes.done(results).values())
    seeds = sorted({r["seed"] for r in cells}, key=lambda s: (s != 42, s))
    threads = sorted({r["threads"] for r in cells})
    rows = spikes.matrix(results, seeds, threads)
    w = max(cells, key=lambda r: r["ratio"])
    head = (f"From `bench/spikes.jsonl` ({len(cells)} runs; cell: ratio@epoch, \"-\": not run). "
            f"The worst: {w['ratio']:.2f} ({w['recipe']}, seed {w['seed']}, {w['threads']} "
            f"thread{'s' if w['threads'] > 1 else ''}, at {w['at']}).")  # fmt: skip
    return head + "\n\n" + table(list(rows[0]), [list(r.values()) for r in rows])


def sae_frontier(f: dict) -> str:
    """docs/sae.md's tables: each TopK/BatchTopK point against L1 at matched L0 with its verdict,
    then every SAE trained, one row per table and activation, and the command."""
    z = f["settings"]
    run = (f"{'quick' if z['quick'] else 'full'} run: {z['vae_epochs']} VAE epochs, "
           f"{z['sae_epochs']} SAE epochs (hidden_dim {z['hidden_dim']}), {z['train_rows']:,} "
           f"training and {z['val_rows']:,} validation rows, seed {z['seed']}")  # fmt: skip
    head = ["case", "L0", "FVE (val)", "dead (val)", "L1: L0", "L1: FVE", "target", "met", "note"]
    keys = ("case", "l0", "fve", "dead", "relu_l0", "relu_fve", "target", "met", "note")
    rows = [[fmt(r[k]) if not isinstance(r[k], float) else f"{r[k]:.3f}" for k in keys]
            for r in f["rows"]]  # fmt: skip
    met = [r["met"] for r in f["rows"] if r["met"] is not None]
    groups: dict[tuple, list[dict]] = {}
    for p in f["points"]:
        groups.setdefault((p["table"], p["activation"]), []).append(p)
    every = [[t, a, "; ".join(
        (f"k={p['k']}" if p["k"] is not None else f"w={p['weight']:.3g}") + f": {p['l0']:.2f}, {p['fve']:.3f}"
        for p in sorted(ps, key=lambda p: p["l0"]))] for (t, a), ps in groups.items()]  # fmt: skip
    return "\n\n".join([
        f"From `bench/sae_frontier.json`, a {run}:", sources([f]),
        f"TopK and BatchTopK against L1 (relu) at matched L0 (within {z['match']:.0%}), "
        f"validation split; verdicts met: {sum(met)} of {len(met)}:", table(head, rows),
        "Every SAE trained (setting: L0, FVE on the validation split; w: the sparsity weight):",
        table(["table", "activation", "SAEs"], every),
    ])  # fmt: skip


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
    vae = ROOT / "docs/vae.md"
    quality = json.loads((ROOT / "bench/quality.json").read_text())
    text = splice(vae.read_text(), "quality", quality_block(quality), str(vae))
    out[vae] = splice(text, "spikes", spikes_block(ROOT / "bench/spikes.jsonl"), str(vae))
    page = ROOT / "docs/alignment-quality.md"
    align = json.loads((ROOT / "bench/alignment_quality.json").read_text())
    text = splice(page.read_text(), "align-retrieval", align_retrieval(align), str(page))
    out[page] = splice(text, "align-transfer", align_transfer(align), str(page))
    sae = ROOT / "docs/sae.md"
    frontier = json.loads((ROOT / "bench/sae_frontier.json").read_text())
    out[sae] = splice(sae.read_text(), "sae-frontier", sae_frontier(frontier), str(sae))
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
