"""DRAM on MNIST pairs: two digits on a 100x100 canvas, both to be named (left to right).

DRAM's Table 1 task (Ba et al. 2015, as the issue quotes it: RAM 9%, DRAM without context 7%,
DRAM 5%; its canvas and order rule are not in the texts here, data/sequences.py says ours).
Two labels, no END: 6 glimpses, 3 per digit.

Run:
  TFDS_DATA_DIR=../shared/data/tensorflow_datasets \
    python -m attn_rl.main --config=configs/dram_pairs.py --workdir=runs/dram_pairs
Arms: `nocontext`, `entropy`, `full`, `cnn`, the `scan` control (as configs/dram_multidigit.py;
its middle-row raster suits rows of digits, not pairs at random places), with `cpu` and
`quicktest`.
Expected: see docs/dram.md.
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.dram import config as dram_config


def get_config(arg=None):
  variants = config_lib.parse_variants(arg, dram_config.VARIANTS,
                                       exclusive=dram_config.EXCLUSIVE)
  c = dram_config.sequence_config("mnist_pairs", variants, num_steps=20000)
  c.lock()
  return c
