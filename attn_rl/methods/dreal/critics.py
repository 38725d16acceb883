"""DREAL's critics: per-stage LSTMs with a scalar state that score each attention map.

One LSTM per stage and map kind (SE, SRM: one per stage; CBAM: one for the channel maps and
one for the spatial maps of each stage), shared by every block of the stage. It reads the
stage's blocks in order; hidden and cell state are scalars, zero at the start of the stage;
its input at block l is concat(feature map reduced to the map's shape, attention map),
[B, 2D] (`backbones/attention.py` says how each feature map is reduced), and Q_l = h_l in (-1, 1).

`hidden` > 1 (`dreal.critic_hidden`, not the paper's: a marked variant for issue 22's capacity
question) widens the state to `hidden` units and reads Q_l = tanh(w . h_l + b), still in
(-1, 1); the default 1 is the paper's scalar state with Q_l = h_l.

The critics exist only in training: `ResNet` holds no critic parameters, so inference and
exported parameters exclude them.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp


class Critics(nn.Module):
  """(maps, reduced) as in `resnet.Trace` -> Q [L * maps_per_block, B], ordered by map index.

  Attributes:
    stage_of_block: [L] stage index of every block (blocks of a stage are contiguous).
    map_kinds: names of the maps of each block ('channel', 'spatial').
    hidden: units of each LSTM's state (1: the paper's scalar state, Q = h).
  """

  stage_of_block: tuple[int, ...]
  map_kinds: tuple[str, ...]
  hidden: int = 1

  @nn.compact
  def __call__(self, maps, reduced):
    batch = maps[0][0].shape[0]
    q = []
    cells, heads, carries = {}, {}, {}
    for i, stage in enumerate(self.stage_of_block):
      for k, kind in enumerate(self.map_kinds):
        name = f"stage{stage}_{kind}"
        if name not in cells:
          cells[name] = nn.LSTMCell(self.hidden, name=name)
          if self.hidden > 1:  # One read-out per LSTM, shared by its blocks as the cell is.
            heads[name] = nn.Dense(1, name=f"{name}_q")
          zeros = jnp.zeros((batch, self.hidden), maps[i][k].dtype)
          carries[name] = (zeros, zeros)  # (c, h), zero at the start of each stage.
        x = jnp.concatenate([reduced[i][k], maps[i][k]], axis=-1)
        carries[name], h = cells[name](carries[name], x)
        if self.hidden > 1:
          h = jnp.tanh(heads[name](h))
        q.append(h[:, 0])
    return jnp.stack(q)

