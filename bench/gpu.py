"""GPU case (skipped without CUDA): the 200k x 32 VAE step on the device, bf16 autocast.

samples/s   alchemi's Trainer.fit against the plain-torch hand loop, both with the data on
            the device, batch 256 (the CPU workload) and a large batch (8192)
bf16 peak   at the large batch: achieved FLOP/s over the device's bf16 dense peak. FLOPs per
            step = 3 x 2 x sum(in x out) x batch over the Linear layers (forward + backward);
            the peak comes from ALCHEMI_GPU_PEAK_TFLOPS, else a small table by device name.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import torch
from baselines import PlainVAE, vae_loss
from common import interleaved, median, row, skipped

PEAK_BF16_TFLOPS = {"H100": 989.0, "A100": 312.0, "L40S": 362.0, "L4": 121.0, "A10": 125.0,
                    "4090": 165.0, "3090": 71.0, "T4": 65.0}  # fmt: skip


def peak_tflops(name: str) -> float | None:
    if os.environ.get("ALCHEMI_GPU_PEAK_TFLOPS"):
        return float(os.environ["ALCHEMI_GPU_PEAK_TFLOPS"])
    return next((v for k, v in PEAK_BF16_TFLOPS.items() if k in name), None)


def linear_flops(model: torch.nn.Module, batch: int) -> float:
    macs = sum(m.in_features * m.out_features for m in model.modules()
               if isinstance(m, torch.nn.Linear))  # fmt: skip
    return 3 * 2 * macs * batch


def hand_steps(model, opt, x, batch: int, steps: int) -> float:
    torch.cuda.synchronize()
    t0 = time.perf_counter()
    for i in range(steps):
        xb = x[(i * batch) % (len(x) - batch) :][:batch]
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = vae_loss(model(xb), xb, None)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    torch.cuda.synchronize()
    return time.perf_counter() - t0


def run(quick: bool = False) -> list[dict]:
    if not torch.cuda.is_available():
        return [skipped("gpu samples/s, bf16 peak", "no CUDA device")]
    import pandas as pd
    from train_speed import alchemi_side, base_config, synthetic

    name, n = torch.cuda.get_device_name(), 200_000
    data = synthetic(n, 32)
    x = torch.from_numpy(data).cuda()
    rows = []
    with tempfile.TemporaryDirectory(prefix="alchemi-bench-gpu-") as tmp:
        tmp = Path(tmp)
        path = tmp / "wide.parquet"
        pd.DataFrame(data, columns=[f"f{i}" for i in range(32)]).to_parquet(path)
        for batch in (256, 8192):
            per_epoch = n // batch
            epochs = max(1, (200 if quick else 1000) // per_epoch)
            steps = epochs * per_epoch
            cfg = base_config(
                tmp, str(path), epochs,
                model={"class": "VAE", "params": {"latent_dim": 32, "hidden_dims": [256, 128]}},
                data={"columns": {"numerical": [f"f{i}" for i in range(32)]}},
            )  # fmt: skip
            cfg["global"].update(device="cuda", amp_dtype="bf16")
            cfg["train"]["loader_params"].update(batch_size=batch, drop_last=True)
            model = PlainVAE(32, [], [256, 128], 32).cuda()
            opt = torch.optim.Adam(model.parameters(), 1e-3, fused=True)
            sides = {"hand": lambda m=model, o=opt, b=batch, s=steps: hand_steps(m, o, x, b, s),
                     "alchemi": alchemi_side(cfg, [])}  # fmt: skip
            t = interleaved(sides, 3)
            hand, ours = steps * batch / median(t["hand"]), steps * batch / median(t["alchemi"])
            rows.append(row(f"gpu train batch {batch}", hand, ours, "samples/s", ">= 0.97", name))
            peak = peak_tflops(name)
            if batch == 8192 and peak:
                achieved = linear_flops(model, 1) * ours / 1e12
                rows.append(row("gpu bf16 fraction of peak", peak, achieved, "TFLOP/s", None,
                                f"{name}: {achieved:.1f} of {peak:.0f} TFLOP/s"))  # fmt: skip
    return rows
