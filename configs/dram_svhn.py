"""DRAM on SVHN format 1 ("Where to look" Table 3; Ba et al. 2015): whole-sequence error.

SVHN cannot be had here: this config is for users who have it. Prepare it once (the
Goodfellow crop, grayscale; data/sequences.py), where <svhn> holds train/, extra/ and test/
as their tarballs unpack:
  python -m attn_rl.tools.prepare_svhn --root=<svhn> --out=<prepared>
  python -m attn_rl.main --config=configs/dram_svhn.py --config.data.root=<prepared> \
    --workdir=runs/dram_svhn
Arms: `nocontext`, `entropy`, `full`, `cnn`, the `scan` control (as configs/dram_multidigit.py).
Paper: DRAM 5.1%, entropy 4.58%, entropy + context 4.03%, 11-layer CNN 3.96%.
Quick check: --config=configs/dram_svhn.py:quicktest runs the same model on multi-digit
MNIST stand-ins of the same size (no SVHN files needed); the reader and the crop are tested
on fixtures in tests/dram_test.py.
"""

from attn_rl.core import config as config_lib
from attn_rl.data import config as data_config
from attn_rl.methods.dram import config as dram_config


def get_config(arg=None):
  variants = config_lib.parse_variants(arg, tuple(v for v in dram_config.VARIANTS if v != "cpu"),
                                       exclusive=dram_config.EXCLUSIVE)
  # DRAM and Goodfellow et al. train far longer; set what your budget allows.
  c = dram_config.sequence_config("svhn", variants - {"quicktest"}, num_steps=100000)
  # Validate every 5,000 steps.
  c.eval.every_steps = 5000
  if "quicktest" in variants:
    # No SVHN here: multi-digit MNIST stand-ins of the same size and label layout.
    c.data = data_config.sequences("multidigit_mnist")
    dram_config.apply_quicktest(c)
  c.lock()
  return c
