"""Attention over feature cubes on HMDB-51, from Sharma et al.'s released HDF5 features.

The REINFORCE paper's HMDB-51 setting (Sec. III): GoogLeNet inception_5b cubes (7 x 7 x 1024)
of 30-frame clips, a 3-layer LSTM of 512, dropout 0.5, weight decay 1e-5, Adam, 10 epochs;
single labels over 51 classes; its Table 1: soft attention 41.30%, hard limited to 5
glimpses 50.06%, unlimited 60.60% accuracy. Data: kracwarlock/action-recognition-visual-
attention's files for one split, <root>/{train,test}_{features.h5,framenum.txt,
filename.txt,labels.txt} (written by MATLAB: data.order='F'). HMDB-51 has no validation
split, so 357 training videos (10%) are held out by a fixed permutation (data.validation=
'carve'); the test split is scored once, at the end. Our own cubes
(python -m attn_rl.tools.extract_cubes --frames_root=...) work with data.layout='folder'.
Arms as configs/video_moving_mnist.py: default hard (5 glimpses), `unlimited`, `soft`,
`mean`; `content`.

Run:
  python -m attn_rl.main --config=configs/video_hmdb51.py --config.data.root=<features> \
    --workdir=runs/video_hmdb51
Quick check (seconds, synthetic cubes): --config=configs/video_hmdb51.py:quicktest
Expected: not measured here (no HMDB-51 features on this project's machines).
"""

from attn_rl.core import config as config_lib
from attn_rl.methods.video import config as video_config

# Training videos of one HMDB-51 split (3,570) and the 10% held out for validation.
TRAIN_VIDEOS, VALIDATION_VIDEOS = 3570, 357


def get_config(arg=None):
  variants = config_lib.parse_variants(arg, video_config.VARIANTS,
                                       exclusive=video_config.EXCLUSIVE)
  if "multi" in variants or "cpu" in variants:
    raise ValueError("configs/video_hmdb51.py has single labels and no cpu budget: drop "
                     "`multi` and `cpu`.")
  c = video_config.defaults()
  # Sharma et al.'s HDF5 files (kracwarlock layout).
  c.data.layout = "kracwarlock"
  # The folder of {train,test}_features.h5 and their text files: set on the command line.
  c.data.root = ""
  # HMDB-51's classes.
  c.data.num_classes = 51
  # GoogLeNet inception_5b: 7 x 7 slices of 1024.
  c.data.grid = 7
  # The released files were written by MATLAB (column-major).
  c.data.order = "F"
  # No validation split in HMDB-51: hold out training videos (never the test split).
  c.data.validation = "carve"
  c.data.num_validation = VALIDATION_VIDEOS
  # 30-frame clips (the paper), a new clip every 10 frames (ours).
  c.data.clip_frames = 30
  c.data.clip_stride = 10
  # 10 epochs of the training clips at batch 64: the step count depends on the videos'
  # lengths; this is 10 epochs at about 7 clips per video (HMDB-51's ~100 frames).
  c.train.num_steps = 10 * (TRAIN_VIDEOS - VALIDATION_VIDEOS) * 7 // 64
  c.eval.every_steps = 500
  c.ckpt.every_steps = 500
  video_config.apply_arm(c, variants)
  if "quicktest" in variants:
    video_config.apply_quicktest(c)
    c.data.validation = "files"
    c.data.num_classes = None
  c.lock()
  return c
