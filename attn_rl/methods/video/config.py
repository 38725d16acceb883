"""The video method's config: hard (REINFORCE) attention over feature cubes, the soft-attention
baseline and a no-attention LSTM, as arms of one model (methods/video/model.py).

Numbers from the REINFORCE paper (Sec. III.B) where it gives them: 3 LSTM layers of 512, a
tanh hidden layer of 512 before the softmax, 30 frames per clip, dropout 0.5, weight decay
1e-5, Adam, 10 epochs; "limited N = 5" glimpses. Where it gives none (the reward's eta, R+
and R-, the penalty's lambda, the learning rate, the scorer's form), the choice is ours and
its comment says so.
"""

from __future__ import annotations

import ml_collections

from attn_rl.core import config as config_lib
from attn_rl.data import config as data_config
from attn_rl.methods.video import model as model_lib

# Config-variant tokens that pick an arm (default: hard attention, limited to 5 glimpses).
ARMS = ("soft", "mean", "unlimited")


def model_group() -> ml_collections.ConfigDict:
  m = ml_collections.ConfigDict()
  # 'hard' (REINFORCE), 'soft' (Sharma et al. 2015) or 'mean' (no attention: the mean slice).
  m.attention = "hard"
  # Hard attention: slices read per frame (the paper's "limited N = 5"); 0: unlimited (each
  # slice read or not by its own Bernoulli draw).
  m.glimpses = 5
  # What the scorer reads: 'state' (h_{t-1} only: only the chosen slices are read) or
  # 'content' (every slice and h_{t-1}: every slice is read to choose).
  m.policy_input = "state"
  # What the core learns of where it attended (ours, a marked variant: the paper's Eq. 3 pools
  # without positions): '' nothing; 'map' the attention weights appended to X'_t (a learned
  # embedding of the attended slices); 'coords' the attended (row, column) centroid.
  m.where = ""
  # A diagnostic control, not the paper: each slice also carries its absolute change since the
  # previous frame, so the motion is in the features (does the task need more than that?).
  m.motion = False
  # Hidden units of the content scorer (ours).
  m.scorer_hidden = 256
  # Stacked LSTM layers (the paper: 3; Sharma et al.'s released model: 1).
  m.lstm_layers = 3
  # Units of each LSTM layer (the paper: 512).
  m.lstm_hidden = 512
  # Units of the tanh hidden layer before the softmax (the paper: 512).
  m.classifier_hidden = 512
  # Dropout on the LSTM's input and output in training (the paper: 0.5).
  m.dropout = 0.5
  return m


def rl_group() -> ml_collections.ConfigDict:
  r = ml_collections.ConfigDict()
  # eta of the reward r_N = eta N+ R+ + (1 - eta) N- R- (Eq. 7; ours: 0.5).
  r.eta = 0.5
  # R+, paid per true positive (ours).
  r.reward_positive = 1.0
  # R-, paid per false positive (ours: a cost).
  r.reward_negative = -1.0
  # Label sets: a class is predicted when its probability exceeds this.
  r.threshold = 0.5
  # lambda of the doubly stochastic penalty sum_i (1 - sum_t l_{t,i})^2 (Eq. 8; ours: 1,
  # Sharma et al.'s paper's value; their released scripts set 0).
  r.penalty = 1.0
  # Weight of the REINFORCE term in the hybrid loss.
  r.reinforce_weight = 1.0
  # Weight of the baseline's squared error.
  r.baseline_weight = 1.0
  # Rollouts per training clip (REINFORCE's samples).
  r.num_rollouts = 1
  return r


def defaults() -> ml_collections.ConfigDict:
  c = config_lib.base("video")
  c.data = data_config.video()
  c.model = model_group()
  c.rl = rl_group()
  c.optim = config_lib.optimizer(learning_rate=1e-3)
  # Weight decay gamma on the kernels (Eq. 8; the paper: 1e-5).
  c.optim.weight_decay = 1e-5
  c = config_lib.add_run_groups(c, eval_rollouts=4)
  c.train.batch_size = 64
  c.eval.batch_size = 250
  return c


def apply_arm(c: ml_collections.ConfigDict, tokens: set[str]) -> None:
  """'soft': Sharma et al.'s soft attention (content scorer, as the issue states it); 'mean':
  no attention; 'unlimited': hard attention with no cap on the slices read; 'content': the
  hard policy scores every slice (it reads them all to choose); 'where': the core also reads
  where it attended (`model.where='map'`, a marked variant); 'motion': the slices also carry
  their change since the previous frame (`model.motion`, a diagnostic control). No arm: hard
  attention, 5 glimpses, state scorer."""
  if "soft" in tokens:
    c.model.attention = "soft"
    c.model.policy_input = "content"
  if "mean" in tokens:
    c.model.attention = "mean"
  if "unlimited" in tokens:
    c.model.glimpses = 0
  if "content" in tokens:
    c.model.policy_input = "content"
  if "where" in tokens:
    c.model.where = "map"
  if "motion" in tokens:
    c.model.motion = True


def validate(c: ml_collections.ConfigDict) -> None:
  """Raises ValueError naming the key, the value and the fix for an invalid video config."""
  data_config.validate_video(c)
  m = c.model
  config_lib.one_of(m.attention, model_lib.ATTENTIONS, "model.attention")
  config_lib.one_of(m.policy_input, model_lib.POLICY_INPUTS, "model.policy_input")
  config_lib.one_of(m.where, model_lib.WHERE, "model.where")
  if m.where and m.attention == "mean":
    raise ValueError(f"model.where={m.where!r} with model.attention='mean': the mean slice "
                     "weighs every position alike, so there is no 'where' to learn; use "
                     "model.where='' or an attention that chooses (hard, soft).")
  config_lib.positive(c, "model.lstm_layers", "model.lstm_hidden", "model.classifier_hidden",
                      "model.scorer_hidden", "rl.num_rollouts")
  if not isinstance(m.glimpses, int) or m.glimpses < 0:
    raise ValueError(f"model.glimpses={m.glimpses!r} must be an int >= 0 (0: unlimited).")
  if m.attention == "hard" and m.glimpses > c.data.grid ** 2 and c.data.layout == "kracwarlock":
    raise ValueError(f"model.glimpses={m.glimpses} exceeds the {c.data.grid}x{c.data.grid} "
                     "slices of a cube.")
  if not 0.0 <= m.dropout < 1.0:
    raise ValueError(f"model.dropout={m.dropout} must be in [0, 1).")
  if not 0.0 <= c.rl.eta <= 1.0:
    raise ValueError(f"rl.eta={c.rl.eta} must be in [0, 1].")
  if c.rl.penalty < 0:
    raise ValueError(f"rl.penalty={c.rl.penalty} must be >= 0.")
  if not 0.0 < c.rl.threshold < 1.0:
    raise ValueError(f"rl.threshold={c.rl.threshold} must be in (0, 1).")
  config_lib.validate_optimizer(c)
  config_lib.validate_run_groups(c)


def selection(c) -> tuple[str, str]:
  """Label sets select on video mAP (higher is better), one label on video error."""
  return ("map", "max") if c.data.multilabel else ("error", "min")


# ---------------------------------------------------------------------------------------------
# What the config files share (configs/video_*.py).

VARIANTS = ("quicktest", "cpu", "multi", "content", "where", "motion", *ARMS)
EXCLUSIVE = (("soft", "mean", "unlimited"), ("mean", "content"), ("soft", "content"),
             ("mean", "where"))


def apply_cpu(c: ml_collections.ConfigDict) -> None:
  """The budget measured on the project's 2-core CPU machine: the paper's 10 epochs, LSTMs
  of 256 (one fewer layer), three seeds in one process (docs/video.md)."""
  c.model.lstm_layers = 2
  c.model.lstm_hidden = 256
  c.model.classifier_hidden = 256
  c.model.scorer_hidden = 128
  c.train.num_seeds = 3
  c.eval.every_steps = 312
  c.ckpt.every_steps = 312


def apply_quicktest(c: ml_collections.ConfigDict) -> None:
  """Synthetic cubes, tiny widths, then the core's quicktest sizes."""
  c.data.layout = "synthetic"
  c.data.root = ""
  c.data.clip_frames = 8
  c.model.lstm_layers = 2
  c.model.lstm_hidden = 16
  c.model.classifier_hidden = 16
  c.model.scorer_hidden = 8
  c.model.glimpses = min(c.model.glimpses, 3)
  config_lib.apply_quicktest(c)
  c.data.limit_train = None
  c.data.limit_eval = None
  c.eval.batch_size = 32
