"""CPU threads for the arithmetic, set once per process by the command line (`--threads`).

Generation multiplies small matrices (a few hundred wide), which one thread does as fast as two
(measured on the bench phrase: 14.7 ms either way, and 71.3 against 70.7 ms for 32 variations), while
a second thread competes with everything else on a busy machine: on a loaded 2-core machine
`segue extend` took 122-632 ms against 38-59 ms (issue 18). So generation uses one thread unless
asked. Training and evaluation use half the cores: every core of a busy 2-core machine made an
epoch 10 times slower than one thread (120 s against 12 s, the same result; issue 18).
"""

from __future__ import annotations

import os
import sys

from threadpoolctl import threadpool_limits

GENERATION_THREADS = 1


def training_threads() -> int:
    """Half the cores, at least one."""
    return max(1, (os.cpu_count() or 2) // 2)


def use_threads(count: int) -> None:
    """Limit numpy's BLAS, and PyTorch where it is loaded, to `count` threads from now on."""
    if count < 1:
        raise ValueError(f"threads must be at least 1, got {count!r}")
    threadpool_limits(count)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.set_num_threads(count)
