"""Bottom-up agent with the entropy and context constraints on 28x28 MNIST (Chen et al. 2021).

6 glimpses of 8x8, 1 scale; no top-down agent (a 28x28 digit needs no region search), RAM's
learned first location. The paper's MNIST network (its Appendix A, "the similar RNN
architecture as RAM to make a fair comparison"): RAM's two-layer fully connected glimpse
network (128 + 128 -> 256) and ReLU core of 256, Adam 3e-4, batch 128, sigma 0.15. Variants,
combinable with commas: 'quicktest'; the ablation arms 'ram' (no constraints), 'entropy',
'context', 'topdown' (pieces switched on), 'full'; 'conv' swaps in the convolutional glimpse
network that the paper describes for SVHN (three conv-norm-pool blocks; this config's default
before 2026-12-05: runs/topdown_mnist_s0 and the robustness sweep used it).

Run (the paper's Table 1 arms: 'ram', 'entropy', 'entropy,context'; 3 seeds in one process):
  TFDS_DATA_DIR=../shared/data/tensorflow_datasets \
    python -m attn_rl.main --config=configs/topdown_mnist.py:ram --config.train.num_seeds=3 \
    --workdir=runs/topdown_mnist_ram
Quick check (seconds): --config=configs/topdown_mnist.py:quicktest
Expected: docs/results.md (Table 1 rows, with their commands).
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.topdown import config as td_config


def get_config(arg=None):
  tokens = config_lib.parse_variants(arg, ("quicktest", "conv", *td_config.ARMS))
  c = td_config.defaults()
  # The undistorted 28x28 digit.
  c.data.task = "plain"
  # Image side.
  c.data.canvas_size = 28
  # Glimpses per episode.
  c.model.num_glimpses = 6
  # 8x8 retina patches.
  c.model.glimpse_size = 8
  # A single resolution.
  c.model.num_scales = 1
  # RAM's fully connected glimpse network (the paper's Appendix A for MNIST), unless 'conv'.
  c.model.glimpse_net = "conv" if "conv" in tokens else "mlp"
  # Seeds vmapped: on 28x28, 1.33x the 'loop' default's images/s with 3 seeds of `full`
  # (docs/throughput.md, "Top-down").
  c.train.seeds_mode = "vmap"
  # Bottom-up only: l_0 from the learned start distribution.
  c.topdown.enabled = False
  # Entropy-weighted REINFORCE.
  c.bottomup.entropy = True
  # Context classifier.
  c.bottomup.context = True
  # Paper batch.
  c.train.batch_size = 128
  # The budget of configs/ram_mnist.py (128 epochs of the 50,000 training images; the paper
  # gives none), so every arm, 'ram' included, sits beside our RAM row.
  c.train.num_steps = 50000
  # Validate every 2,000 steps, as configs/ram_mnist.py.
  c.eval.every_steps = 2000
  td_config.apply_arm(c, tokens)
  if "quicktest" in tokens:
    config_lib.apply_quicktest(c)
  c.lock()
  return c
