"""The shared set encoder: permutation invariance, padding invariance, empty rows, set sizes."""

from __future__ import annotations

import pytest
import torch

from alchemi_core.nn.set_encoder import build_set_encoder

KINDS = ["attention", "isab_pma"]
DIM = 16


def make(kind: str, **kw):
    torch.manual_seed(0)
    enc = build_set_encoder(DIM, depth=2, heads=4, kind=kind, num_inducing=4, **kw)
    return enc.eval()


@pytest.mark.parametrize("kind", KINDS)
def test_permutation_invariant_pool_and_equivariant_tokens(kind):
    enc = make(kind, num_queries=2)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(3, 11, DIM, generator=g)
    perm = torch.randperm(11, generator=g)
    assert not torch.equal(perm, torch.arange(11))
    with torch.no_grad():
        out, h = enc(x), enc.encode_tokens(x)
        out_p, h_p = enc(x[:, perm]), enc.encode_tokens(x[:, perm])
    assert out.shape == (3, enc.out_dim) == (3, 2 * DIM)
    assert (out - out_p).abs().max() <= 1e-5
    assert (h[:, perm] - h_p).abs().max() <= 1e-5
    # and it is not a constant: a different set gives a different output
    assert (enc(torch.randn(3, 11, DIM, generator=g)) - out).abs().max() > 1e-2


@pytest.mark.parametrize("kind", KINDS)
def test_masked_padding_changes_nothing(kind):
    enc = make(kind)
    g = torch.Generator().manual_seed(2)
    x = torch.randn(4, 7, DIM, generator=g)
    junk = torch.randn(4, 5, DIM, generator=g) * 1e3  # wild values, must be ignored
    junk[0, 0, 0] = float("nan")
    padded = torch.cat([x, junk], dim=1)
    mask = torch.zeros(4, 12, dtype=torch.bool)
    mask[:, 7:] = True
    with torch.no_grad():
        ref, ref_h = enc(x), enc.encode_tokens(x)
        out, h = enc(padded, mask), enc.encode_tokens(padded, mask)
        # padding interleaved with real tokens, not only at the end
        order = torch.randperm(12, generator=g)
        out_mixed = enc(padded[:, order], mask[:, order])
    assert (out - ref).abs().max() <= 1e-5
    assert (h[:, :7] - ref_h).abs().max() <= 1e-5
    assert torch.all(h[:, 7:] == 0)
    assert (out_mixed - ref).abs().max() <= 1e-5
    # unmasked, the same junk does change the output (the mask is what protects it)
    with torch.no_grad():
        unmasked = enc(torch.nan_to_num(padded))
    assert (unmasked - ref).abs().max() > 1e-3


@pytest.mark.parametrize("kind", KINDS)
def test_fully_masked_row_is_zero_not_nan(kind):
    enc = make(kind)
    x = torch.randn(3, 6, DIM)
    mask = torch.zeros(3, 6, dtype=torch.bool)
    mask[1] = True
    with torch.no_grad():
        out = enc(x, mask)
        alone = enc(x[[0, 2]])
    assert torch.isfinite(out).all()
    assert torch.all(out[1] == 0)
    assert (out[[0, 2]] - alone).abs().max() <= 1e-5
    # gradients stay finite too
    enc.train()
    out = enc(x.requires_grad_(), mask)
    out.sum().backward()
    assert all(torch.isfinite(p.grad).all() for p in enc.parameters() if p.grad is not None)


@pytest.mark.parametrize("kind", KINDS)
def test_three_to_three_hundred_tokens_in_one_batch(kind):
    enc = make(kind)
    lengths = [3, 17, 120, 300]
    g = torch.Generator().manual_seed(3)
    sets = [torch.randn(n, DIM, generator=g) for n in lengths]
    batch = torch.zeros(len(sets), max(lengths), DIM)
    mask = torch.ones(len(sets), max(lengths), dtype=torch.bool)
    for i, s in enumerate(sets):
        batch[i, : len(s)] = s
        mask[i, : len(s)] = False
    with torch.no_grad():
        out = enc(batch, mask)
        each = torch.cat([enc(s[None]) for s in sets])
    assert out.shape == (4, DIM)
    assert torch.isfinite(out).all()
    assert (out - each).abs().max() <= 1e-5


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="kind"):
        build_set_encoder(8, kind="lstm")
    with pytest.raises(ValueError, match="divisible"):
        build_set_encoder(10, heads=4)


def test_bf16_autocast_on_cpu():
    enc = make("attention")
    x = torch.randn(2, 5, DIM)
    mask = torch.tensor([[False] * 5, [False, False, True, True, True]])
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        out = enc(x, mask)
    assert torch.isfinite(out.float()).all()
