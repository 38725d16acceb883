"""DRAM on MNIST addition: two digits on a 100x100 canvas, the answer is their sum (0 to 18).

DRAM's second MNIST task ("learning to do addition", Ba et al. 2015). Its text is
not among those here, so the canvas is MNIST pairs' (data/sequences.py) and the glimpse
budget is pairs': 6 glimpses, one label, the sum, emitted after the last (ours). The reward is
1 if the sum is right (the `cumulative` reward of one label).

Run:
  TFDS_DATA_DIR=../shared/data/tensorflow_datasets \
    python -m attn_rl.main --config=configs/dram_addition.py --workdir=runs/dram_addition
Arms: `nocontext`, `entropy`, `full`, `cnn` (one 19-way head), the `scan` control (as
configs/dram_multidigit.py), with `cpu` and `quicktest`.
Expected: see docs/dram.md.
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.dram import config as dram_config


def get_config(arg=None):
  variants = config_lib.parse_variants(arg, dram_config.VARIANTS,
                                       exclusive=dram_config.EXCLUSIVE)
  c = dram_config.sequence_config("mnist_addition", variants, num_steps=20000)
  if c.method == "dram":
    # One label after all the glimpses pairs take to name both digits (3 per digit).
    c.model.glimpses_per_label = 6
  c.lock()
  return c
