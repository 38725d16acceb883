"""Top-down + bottom-up attention on 100x100 cluttered MNIST (Chen et al. 2021).

12x12 glimpses at 4 scales (12 to 96 px), 8 pieces of 8x8 clutter (as configs/ram_clutter100.py).
The top-down Q-agent picks one of 2x2 regions of the half-resolution image; the bottom-up
agent starts inside it. Variants, combinable with commas:
  glimpses6 / glimpses8   glimpse budget (default 8)
  ram                     all three pieces off: RAM with the conv glimpse network, same budget
  topdown                 + top-down start
  topdown,entropy         + entropy-weighted REINFORCE
  full                    + context classifier (the default)
  quicktest               a few CPU seconds (tests)

Ablation (the lead runs it; seeds via --config.seed):
  for arm in ram topdown topdown,entropy full; do for seed in 0 1; do
    TFDS_DATA_DIR=../shared/data/tensorflow_datasets python -m attn_rl.main \
      --config=configs/topdown_clutter100.py:$arm,glimpses8 --config.seed=$seed \
      --workdir=runs/topdown_clutter100_${arm/,/_}_g8_s$seed; done; done
Quick check (seconds): --config=configs/topdown_clutter100.py:full,quicktest
Expected: not yet measured; see README "Results" once the lead has run it.
"""

from attn_rl import config_lib


def get_config(arg=None):
  tokens = config_lib.parse_variants(
      arg, ("quicktest", "glimpses6", "glimpses8", *config_lib.TOPDOWN_ARMS))
  if {"glimpses6", "glimpses8"} <= tokens:
    raise ValueError("Config variants 'glimpses6' and 'glimpses8' exclude each other.")
  c = config_lib.topdown_defaults()
  # Translated digit plus random crops of other digits.
  c.data.task = "cluttered"
  # Canvas side.
  c.data.canvas_size = 100
  # Clutter pieces (the paper's count is not given; as configs/ram_clutter100.py).
  c.data.num_clutter = 8
  # Side of each clutter piece.
  c.data.clutter_size = 8
  # Glimpses per episode.
  c.model.num_glimpses = 6 if "glimpses6" in tokens else 8
  # 12x12 retina patches.
  c.model.glimpse_size = 12
  # Patches of 12, 24, 48 and 96 pixels.
  c.model.num_scales = 4
  # Two levels: the half-resolution image and the chosen full-resolution quarter.
  c.topdown.levels = 2
  # 2x2 regions per level.
  c.topdown.grid = 2
  # Paper batch.
  c.train.batch_size = 128
  # Training steps (as configs/ram_clutter100.py).
  c.train.num_steps = 40000
  config_lib.apply_topdown_arm(c, tokens)
  if "quicktest" in tokens:
    config_lib.apply_quicktest(c)
  c.lock()
  return c
