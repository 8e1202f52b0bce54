"""bf16 on CPUs without bf16 instructions: run the matrix products on the fp32 units.

A bf16 matrix product means bf16 inputs, products and sums in fp32, and a result rounded to
bf16 (what oneDNN's native kernels and GPU tensor cores do). On a CPU without AVX512-BF16/AMX,
torch falls back to generic bf16 kernels, measured 6.7x slower than fp32 on this project's AVX2
machines (a whole SmolLM2 forward pass 6x slower). The same contract can be met with fp32 FMA
units: a product of two bf16 numbers is exact in fp32, so upcasting the inputs, multiplying in
fp32 and rounding the result to bf16 is a bf16 matrix product with fp32 accumulation; only the
order of the fp32 sums differs from another kernel's, as it does between any two bf16 kernels.

Weights stay bf16 in memory (the upcast is per call, a few percent of a batch's time), so bf16 keeps
its memory saving and runs at about fp32 speed here instead of several times slower.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

try:  # GPT-2 style models use transformers' Conv1D (a transposed Linear) for their projections
    from transformers.pytorch_utils import Conv1D
except ImportError:  # pragma: no cover - transformers is a dependency
    Conv1D = None  # type: ignore[assignment,misc]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU has bf16 matrix instructions (AVX512-BF16 or AMX) that torch uses."""
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # private torch API: assume the fast path if it moved
        return True


def needs_fp32_matmuls(dtype: torch.dtype, device: torch.device) -> bool:
    """bf16 on a CPU that would otherwise take torch's slow generic bf16 kernels."""
    return dtype == torch.bfloat16 and device.type == "cpu" and not cpu_has_native_bf16()


class Fp32AccumulatingLinear(nn.Linear):
    """nn.Linear whose bf16 product runs on fp32 units: exact products, fp32 sums, bf16 result."""

    def forward(self, input: torch.Tensor) -> torch.Tensor:
        bias = None if self.bias is None else self.bias.float()
        return F.linear(input.float(), self.weight.float(), bias).to(input.dtype)


if Conv1D is not None:

    class Fp32AccumulatingConv1D(Conv1D):
        """transformers' Conv1D (x @ W + b) with the same fp32-accumulating bf16 product."""

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            size_out = x.size()[:-1] + (self.nf,)
            flat = x.reshape(-1, x.size(-1)).float()
            out = torch.addmm(self.bias.float(), flat, self.weight.float())
            return out.view(size_out).to(x.dtype)


def use_fp32_matmuls(model: nn.Module) -> int:
    """Switch every plain Linear / Conv1D of `model` to the fp32-accumulating product; their count.

    Parameters are untouched (they stay bf16); only the modules' forward changes. Subclasses with
    their own forward (quantised layers, LoRA) are left alone.
    """
    swapped = 0
    for module in model.modules():
        if type(module) is nn.Linear:
            module.__class__ = Fp32AccumulatingLinear
            swapped += 1
        elif Conv1D is not None and type(module) is Conv1D:
            module.__class__ = Fp32AccumulatingConv1D
            swapped += 1
    return swapped
