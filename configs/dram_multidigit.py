"""DRAM on multi-digit MNIST: 1 to 5 digits in a row, SVHN-style 64x64 crops, 54x54 input.

The offline stand-in for "Where to look" Table 3 (SVHN, which cannot be had here): the same
model (18 glimpses of 12x12 at 2 scales, 3 per label: 5 digits and the END), the same
protocol (Goodfellow crop, random 54x54 crop in training, centre crop in evaluation), the
digits from MNIST (data/sequences.py).

Run:
  TFDS_DATA_DIR=../shared/data/tensorflow_datasets \
    python -m attn_rl.main --config=configs/dram_multidigit.py --workdir=runs/dram_multidigit
Arms (comma-combinable with `cpu`, `tanh` and `quicktest`): `nocontext` (DRAM without its context
network), `entropy` (the unified model's entropy-weighted REINFORCE), `full` (entropy and
context constraints), `cnn` (the Goodfellow-style CNN baseline, method seq_cnn). `tanh`
bounds the location mean by tanh (a departure from the papers' linear emission network);
`scan` is a control without RL (every episode reads one fixed left-to-right raster).
Quick check (seconds): --config=configs/dram_multidigit.py:quicktest
`cpu`: the budget measured on the project's 2-core CPU machine (methods/dram/config.py:
apply_cpu; 3 seeds in one process).
Expected: see docs/dram.md (measured runs, with their commands and hardware).
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.dram import config as dram_config


def get_config(arg=None):
  variants = config_lib.parse_variants(arg, dram_config.VARIANTS,
                                       exclusive=dram_config.EXCLUSIVE)
  c = dram_config.sequence_config("multidigit_mnist", variants, num_steps=20000)
  c.lock()
  return c
