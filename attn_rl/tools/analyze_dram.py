"""Where a trained DRAM looks: how often its locations leave the image; writes JSON.

  python -m attn_rl.tools.analyze_dram --workdirs=runs/dram_multidigit_cpu/seed_0,... \
      --out=results/dram_locations.json

For each workdir's validation-selected checkpoint, on the first `num_images` validation
sequences: per glimpse, the fraction of sensed locations with a coordinate outside [-1, 1]
(the sensor clips them to the border: such a glimpse sees the image's edge), the mean |l|,
and the spread of the glimpse centres over images (a policy that looks at the same place in
every image has spread 0); for the drawn policy (one rollout per image, the run's noise) and
the deterministic one (the emission's mean).
"""

from __future__ import annotations

import json
import os

import jax
import numpy as np
from absl import app, flags

from attn_rl.core import loop
from attn_rl.data import pipeline

_WORKDIRS = flags.DEFINE_list("workdirs", None, "Single-seed DRAM workdirs.", required=True)
_OUT = flags.DEFINE_string("out", "results/dram_locations.json", "Output JSON path.")
_NUM = flags.DEFINE_integer("num_images", 500, "Validation sequences looked at.")


def analyze(workdir: str, num_images: int) -> dict:
  config, method, model, state, meta = loop.load_trained(workdir)
  if config.method != "dram":
    raise ValueError(f"{workdir} is a {config.method!r} run; this tool reads DRAM runs.")
  images, _ = pipeline.eval_images(config.data, "validation", num_images)
  params = method.inference_params(state)
  row = {"workdir": workdir, "step": int(meta.get("step", -1)) if isinstance(meta, dict)
         else None, "location_mean": config.model.location_mean}
  for name, deterministic in (("drawn", False), ("deterministic", True)):
    out = jax.jit(lambda p, x, d=deterministic: model.unroll(p, x, jax.random.key(0),
                                                            deterministic=d))(params, images)
    loc = np.asarray(out.locations)  # [N, B, 2]
    outside = (np.abs(loc) > 1.0).any(-1)
    row[name] = {
        "outside_per_glimpse": outside.mean(1).round(4).tolist(),
        "outside": float(outside.mean()),
        "mean_abs": float(np.abs(loc).mean()),
        "spread_per_glimpse": np.clip(loc, -1, 1).std(1).mean(-1).round(4).tolist(),
    }
  return row


def main(argv):
  del argv
  rows = [analyze(w, _NUM.value) for w in _WORKDIRS.value]
  for r in rows:
    print(f"{r['workdir']}: outside [-1, 1]: drawn {r['drawn']['outside']:.1%}, "
          f"deterministic {r['deterministic']['outside']:.1%}; mean |l| "
          f"{r['deterministic']['mean_abs']:.2f}")
  os.makedirs(os.path.dirname(_OUT.value) or ".", exist_ok=True)
  with open(_OUT.value, "w") as f:
    json.dump({"num_images": _NUM.value, "rows": rows}, f, indent=1)


if __name__ == "__main__":
  app.run(main)
