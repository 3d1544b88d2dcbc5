"""Sharpness-aware minimisation (`--sam_rho`; Foret et al., ICLR 2021): each step's gradient is taken at the
weights moved `rho` along the normalised gradient, the worst point nearby to first order, and the optimizer then
applies it to the unmoved weights. It costs a second forward and backward pass per step.

pytorch-optimizer's `SAM` wraps the optimizer and steps through a closure, which the `Trainer`'s loop does not
pass; the perturbation itself is a few lines, so both training paths share this one."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


@contextlib.contextmanager
def sharpness_aware(model: torch.nn.Module, rho: float) -> Iterator[None]:
    """Move the weights by `rho * g / ||g||` (g: the gradients the last backward pass left) and clear the gradients,
    so that the backward pass inside the block gives the gradient at the moved weights; move the weights back on
    exit, leaving that gradient for the optimizer."""
    params = [p for p in model.parameters() if p.grad is not None]
    with torch.no_grad():
        norm = torch.nn.utils.get_total_norm([p.grad for p in params])
        steps = [p.grad * (rho / (norm + 1e-12)) for p in params]
        torch._foreach_add_(params, steps)
    model.zero_grad(set_to_none=True)
    try:
        yield
    finally:
        with torch.no_grad():
            torch._foreach_sub_(params, steps)
