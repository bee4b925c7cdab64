"""Masked NCC: a shifted copy is found at the shift; FFT and conv versions agree."""

import torch

from training.models.correlation import ncc_all_pairs, ncc_all_pairs_fft, ncc_positive, ncc_positive_fft


def _template_at(sat, r, c, k):
    h = k // 2
    return sat[:, :, r - h: r + h + 1, c - h: c + h + 1].clone()


def test_shifted_copy_found_at_shift():
    torch.manual_seed(0)
    sat = torch.randn(2, 4, 32, 32)
    k = 9
    t = torch.cat([_template_at(sat[:1], 10, 20, k), _template_at(sat[1:], 22, 7, k)])
    mask = torch.ones(2, 1, k, k)
    maps = ncc_positive(sat, t, mask)
    assert maps.shape == (2, 32, 32)
    for b, (r, c) in enumerate([(10, 20), (22, 7)]):
        i = int(maps[b].argmax())
        assert (i // 32, i % 32) == (r, c)
        assert abs(float(maps[b, r, c]) - 1.0) < 1e-4


def test_mask_excludes_pixels():
    torch.manual_seed(1)
    sat = torch.randn(1, 3, 24, 24)
    k = 7
    t = _template_at(sat, 12, 12, k)
    t[..., :, :3] = torch.randn(1, 3, k, 3) * 5  # corrupt the left part ...
    mask = torch.ones(1, 1, k, k)
    mask[..., :, :3] = 0  # ... and mask it out: still a perfect match
    maps = ncc_positive(sat, t, mask)
    assert abs(float(maps[0, 12, 12]) - 1.0) < 1e-4


def test_all_pairs_diagonal_equals_positive_and_fft_agrees():
    torch.manual_seed(2)
    sat = torch.randn(3, 5, 20, 20)
    t = torch.randn(3, 5, 9, 9)
    mask = (torch.rand(3, 1, 9, 9) > 0.3).float()
    pos = ncc_positive(sat, t, mask)
    allp = ncc_all_pairs(sat, t, mask)
    fft = ncc_all_pairs_fft(sat, t, mask)
    assert allp.shape == (3, 3, 20, 20)
    for b in range(3):
        torch.testing.assert_close(allp[b, b], pos[b], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(fft, allp, atol=1e-4, rtol=1e-3)


def test_positive_fft_matches_conv_values_and_gradients():
    torch.manual_seed(3)
    sat = torch.randn(2, 4, 18, 22, requires_grad=True)
    t = torch.randn(2, 4, 7, 7, requires_grad=True)
    mask = (torch.rand(2, 1, 7, 7) > 0.3).float()
    conv, fft = ncc_positive(sat, t, mask), ncc_positive_fft(sat, t, mask)
    torch.testing.assert_close(fft, conv, atol=1e-4, rtol=1e-3)
    g_conv = torch.autograd.grad(conv[:, 5:12, 6:15].sum(), (sat, t))
    g_fft = torch.autograd.grad(fft[:, 5:12, 6:15].sum(), (sat, t))
    for a, b in zip(g_fft, g_conv):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-3)
