"""
Forward + backward time of the conv-statistics band convolutions written three ways (same weights, same output):
the model's `Conv1d` over (batch x bands), one `Conv2d` over (bands, frames), and unfold + matmul.

    OMP_NUM_THREADS=1 python benchmarks/band_conv_forms.py
"""

from __future__ import annotations

import time

import torch
from torch import nn
from torch.nn import functional as F

B, T, M, BINS, C, K = 16, 300, 64, 2, 32, 5  # batch 16, 3-s clips, the default config's band convolution
BANDS = M // BINS
conv1 = nn.Conv1d(BINS, C, K, stride=2, padding=K // 2)
conv2 = nn.Conv1d(C, C, K, padding=K // 2)


def as_conv1d(x: torch.Tensor) -> torch.Tensor:
    bands = x.view(B, T, BANDS, BINS).permute(0, 2, 3, 1).reshape(B * BANDS, BINS, T)
    return F.gelu(conv2(F.gelu(conv1(bands)))).view(B, BANDS, C, -1)


def as_conv2d(x: torch.Tensor) -> torch.Tensor:
    h = F.gelu(F.conv2d(x.transpose(1, 2)[:, None], conv1.weight[:, None], conv1.bias, stride=(BINS, 2),
                        padding=(0, K // 2)))  # fmt: skip
    return F.gelu(F.conv2d(h, conv2.weight[:, :, None], conv2.bias, padding=(0, K // 2))).permute(0, 2, 1, 3)


def as_unfold_matmul(x: torch.Tensor) -> torch.Tensor:
    windows = F.pad(x, (0, 0, K // 2, K // 2)).unfold(1, K, 2)  # (B, T/2, M, K)
    steps = windows.shape[1]
    windows = windows.reshape(B, steps, BANDS, BINS, K).permute(0, 2, 1, 3, 4).reshape(B, BANDS, steps, BINS * K)
    h = F.gelu(F.linear(windows, conv1.weight.reshape(C, -1), conv1.bias))  # (B, bands, T/2, C)
    h = F.pad(h, (0, 0, K // 2, K // 2)).unfold(2, K, 1).reshape(B, BANDS, steps, C * K)
    return F.gelu(F.linear(h, conv2.weight.reshape(C, -1), conv2.bias)).permute(0, 1, 3, 2)


def main() -> None:
    torch.manual_seed(0)
    x = torch.randn(B, T, M, requires_grad=True)
    reference = as_conv1d(x)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s); batch {B}, {T} frames, {BANDS} bands")
    for form in (as_conv1d, as_conv2d, as_unfold_matmul):
        torch.testing.assert_close(form(x), reference, rtol=1e-4, atol=1e-5)
        times = []
        for _ in range(3):
            start = time.perf_counter()
            for _ in range(10):
                form(x).sum().backward()
            times.append((time.perf_counter() - start) / 10)
        print(f"{form.__name__:18s} forward + backward: {min(times):.3f} s (best of 3 x 10)")


if __name__ == "__main__":
    main()
