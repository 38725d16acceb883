"""Attention over video feature cubes on Moving MNIST: which digit moves (one label) or which
digits move (label sets, `multi`), from the cubes of a frozen MNIST CNN.

The offline stand-in for the REINFORCE paper's HMDB-51 and ActivityNet (which cannot be had
here): the same model on 8 x 8 x 64 cubes of 20-frame videos (data/moving_mnist.py).
Arms (comma-combinable with `multi`, `cpu`, `quicktest`): hard attention limited to 5
glimpses (default), `unlimited` (hard, no cap), `soft` (Sharma et al.'s soft attention),
`mean` (no attention: the mean slice); `content` lets the hard policy read every slice to
choose; `where` (ours) lets the core read where it attended; `motion` (a diagnostic control,
not the paper) gives each slice its change since the previous frame.

Run (three steps: the frame CNN, its cubes, then any arm):
  export TFDS_DATA_DIR=../shared/data/tensorflow_datasets
  python -m attn_rl.main --config=configs/dreal_mnist.py:none,vanilla --workdir=runs/cnn_mnist
  python -m attn_rl.tools.extract_cubes --cnn_workdir=runs/cnn_mnist --moving_mnist=single \
    --out=runs/cubes/moving_mnist_single            # and --moving_mnist=multi
  python -m attn_rl.main --config=configs/video_moving_mnist.py \
    --config.data.root=runs/cubes/moving_mnist_single --workdir=runs/video_mm_single
Quick check (seconds, synthetic cubes): --config=configs/video_moving_mnist.py:quicktest
Expected: see docs/video.md (measured runs, with their commands and hardware).
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.video import config as video_config


def get_config(arg=None):
  variants = config_lib.parse_variants(arg, video_config.VARIANTS,
                                       exclusive=video_config.EXCLUSIVE)
  c = video_config.defaults()
  multi = "multi" in variants
  # The cube folder written by tools/extract_cubes.py.
  c.data.root = f"runs/cubes/moving_mnist_{'multi' if multi else 'single'}"
  # Label sets (1 to 3 moving digits) or the one moving digit's class.
  c.data.multilabel = multi
  # A clip is the whole 20-frame video.
  c.data.clip_frames = 20
  # Training: the paper's 10 epochs of the 10,000 training videos at batch 64.
  c.train.num_steps = 1560
  c.eval.every_steps = 312
  c.ckpt.every_steps = 312
  video_config.apply_arm(c, variants)
  if "cpu" in variants:
    video_config.apply_cpu(c)
  if "quicktest" in variants:
    video_config.apply_quicktest(c)
  c.lock()
  return c
