"""Top-down + bottom-up attention on 100x100 cluttered MNIST (Chen et al. 2021).

12x12 glimpses at 4 scales (12 to 96 px), 8 pieces of 8x8 clutter (as configs/ram_clutter100.py;
the paper's Table 2 text says 10: variant `clutter10`).
The top-down Q-agent picks one of 2x2 regions of the half-resolution image; the bottom-up
agent starts inside it. Variants, combinable with commas:
  glimpses6 / glimpses8   glimpse budget (default 8)
  ram                     all three pieces off: RAM with this config's glimpse network, same
                          budget
  mlp                     the paper's network: RAM's fully connected glimpse network (its
                          Section 4 keeps "the same network architecture given in the MNIST
                          classification experiment", Appendix A) instead of the default
                          convolutional one (three conv-norm-pool blocks, as its SVHN network)
  clutter10               10 pieces of clutter, the count of the paper's Table 2 text (default
                          8); the paper's setting is `mlp,clutter10`
  topdown                 + top-down start
  topdown,entropy         + entropy-weighted REINFORCE
  full                    + context classifier (the default)
  short                   the 2-core CPU budget of the README's ablation: 6,000 steps (15
                          epochs), conv channels 16/32/32 and RAM's recipe (Adam 1e-3,
                          cosine decay) instead of the paper's constant 3e-4; 6-12 min per run
  quicktest               a few CPU seconds (tests)

Ablation (docs/results.md; seeds via --config.seed), the paper's 6-glimpse arms:
  for seed in 0 1 2; do for arm in ram topdown topdown,entropy full; do
    TFDS_DATA_DIR=../shared/data/tensorflow_datasets python -m attn_rl.main \
      --config=configs/topdown_clutter100.py:$arm,glimpses6,short --config.seed=$seed \
      --workdir=runs/topdown_clutter100_${arm/,/_}_g6_s$seed; done; done
The paper's 8-glimpse rows (`mlp,clutter10`; docs/results.md), 3 seeds in one process:
  for arm in ram topdown full; do python -m attn_rl.main \
    --config=configs/topdown_clutter100.py:$arm,glimpses8,mlp,clutter10,short \
    --config.train.num_seeds=3 --workdir=runs/topdown_clutter100_${arm}_g8_mlp_short; done
Drop `short` for the full budget (40,000 steps, channels 32/64/64): the 6-glimpse top-down
arm takes about 2 h 40 min on one core of the 2-core CPU (4 min per 1,000 steps, validation
included, 2026-12-07).
Every run of both, 3 seeds each, either budget, two at a time:
  PARALLEL=2 bash launch/topdown_clutter100_table.sh runs full
Quick check (seconds): --config=configs/topdown_clutter100.py:full,quicktest
Measured (docs/results.md, `short`, 6 glimpses, 3 seeds, M=8 test error, means): RAM
31.57%, + top-down 26.42%, + entropy 26.32%, full 21.68% (paper: 29.8, 26.3, 23.6, 20.3),
the seeds of the RAM, top-down and full arms 9.5 to 12.8 points apart; 13 to 44 min per
run on the 2-core CPU. The 8-glimpse rows (`mlp,clutter10,short`, 3 seeds, means): RAM
44.94%, + top-down 37.48%, full 31.95% (paper: 24.7, 20.7, 17.3), every arm still
improving at step 6,000; 22 to 68 min per arm for 3 seeds on one core.
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.topdown import config as td_config


def get_config(arg=None):
  tokens = config_lib.parse_variants(
      arg, ("quicktest", "short", "glimpses6", "glimpses8", "mlp", "clutter10",
            *td_config.ARMS),
      exclusive=(("glimpses6", "glimpses8"),))
  c = td_config.defaults()
  # Translated digit plus random crops of other digits.
  c.data.task = "cluttered"
  # Canvas side.
  c.data.canvas_size = 100
  # Clutter pieces: as configs/ram_clutter100.py, or the 10 of the paper's Table 2 text.
  c.data.num_clutter = 10 if "clutter10" in tokens else 8
  # Side of each clutter piece.
  c.data.clutter_size = 8
  # Glimpses per episode.
  c.model.num_glimpses = 6 if "glimpses6" in tokens else 8
  # 12x12 retina patches.
  c.model.glimpse_size = 12
  # Patches of 12, 24, 48 and 96 pixels.
  c.model.num_scales = 4
  # The convolutional glimpse network (td_config.defaults), or the paper's fully connected one.
  c.model.glimpse_net = "mlp" if "mlp" in tokens else "conv"
  # Two levels: the half-resolution image and the chosen full-resolution quarter.
  c.topdown.levels = 2
  # 2x2 regions per level.
  c.topdown.grid = 2
  # Paper batch.
  c.train.batch_size = 128
  # Training steps (as configs/ram_clutter100.py).
  c.train.num_steps = 40000
  td_config.apply_arm(c, tokens)
  if "short" in tokens:
    # About 15 epochs of the 50,000 training canvases.
    c.train.num_steps = 6000
    # Half the channels, Adam 1e-3 with cosine decay (as configs/ram_clutter100.py).
    td_config.apply_cpu_recipe(c)
  if "quicktest" in tokens:
    config_lib.apply_quicktest(c)
  c.lock()
  return c
