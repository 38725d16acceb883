"""Robust accuracy of a trained workdir under PGD (with and without EOT) and SPSA, any method.

  python -m attn_rl.tools.robustness --workdir=runs/ram_mnist_s0 --eps=0.05,0.1,0.2,0.3

Loads the workdir's validation-selected checkpoint and attacks the first --num images of
--split (default test: nothing is selected here, the model was chosen on validation) through
the method's `make_logits` (core/method.py), with `core/evaluators/robustness.py`. Defaults are
Madry et al.'s released MNIST settings: L-inf, 40 steps of 0.01 from a random start.

Series, each scored at every --eps (accuracy in [0, 1]; an example counts as robust only if it
survives every --restarts restart):
  stochastic methods (RAM, top-down), scored as normal evaluation scores them (class
  probabilities averaged over the config's eval.num_rollouts draws, fresh keys):
    noise      uniform noise of the same size (control)
    pgd        PGD on one draw of the policy's noise per step
    pgd_eot    PGD on the loss averaged over --eot draws per step (Athalye et al. 2018)
    worst      robust against both pgd and pgd_eot
  and under the deterministic policy (mean locations; `_det`): noise_det, pgd_det.
  deterministic methods (DREAL, the plain ResNet): noise, pgd.
At the largest eps the main attack (pgd_eot; pgd for deterministic methods) is rerun with a
quarter and half of the steps, and SPSA (margin loss, gradient-free) attacks the first
--spsa_num images at --spsa_eps, under each scoring.

Checks, printed and stored under "checks": accuracy non-increasing in eps and in steps (within
--tolerance); noise no more harmful than the attack; for a deterministic model, PGD at the
largest eps drives accuracy under 10% (an undefended network must collapse, else the attack is
broken); gradient masking suspected when SPSA beats the gradient attack on the same images by
more than --masked_margin.

Writes <out>/robustness.json and, with --plot, robustness.png (accuracy against eps).
`--table=a.json,b.json,...` instead prints a markdown table of finished reports.
"""

from __future__ import annotations

import functools
import importlib.util
import json
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from attn_rl.core import loop, provenance
from attn_rl.core.evaluators import robustness
from attn_rl.data import pipeline

_WORKDIR = flags.DEFINE_string("workdir", None, "A trained workdir (one seed's folder).")
_EPS = flags.DEFINE_list("eps", ["0.05", "0.1", "0.2", "0.3"], "Radii of the attack ball, "
                         "in pixel units of [0, 1].")
_NORM = flags.DEFINE_enum("norm", "linf", robustness.NORMS, "Norm of the ball.")
_STEPS = flags.DEFINE_integer("steps", 40, "PGD steps.")
_STEP_SIZE = flags.DEFINE_float("step_size", 0.01, "PGD step (L-inf: per pixel; L2: length).")
_RESTARTS = flags.DEFINE_integer("restarts", 1, "PGD random restarts.")
_EOT = flags.DEFINE_integer("eot", 8, "Draws of the policy averaged per PGD-EOT step.")
_LOSS = flags.DEFINE_enum("loss", "ce", robustness.LOSSES, "Loss PGD raises.")
_NUM = flags.DEFINE_integer("num", 1000, "Images attacked.")
_BATCH = flags.DEFINE_integer("batch", 250, "Images per attack batch.")
_SPLIT = flags.DEFINE_enum("split", "test", ["test", "validation"], "Split attacked.")
_SPSA_NUM = flags.DEFINE_integer("spsa_num", 100, "Images SPSA attacks (the first of --num; "
                                 "0: no SPSA).")
_SPSA_EPS = flags.DEFINE_float("spsa_eps", None, "SPSA's radius, one of --eps (default the "
                               "largest).")
_SPSA_STEPS = flags.DEFINE_integer("spsa_steps", 100, "SPSA steps.")
_SPSA_SAMPLES = flags.DEFINE_integer("spsa_samples", 128, "SPSA directions per step.")
_SPSA_BATCH = flags.DEFINE_integer("spsa_batch", 10, "Images per SPSA batch.")
_SPSA_LR = flags.DEFINE_float("spsa_lr", 0.01, "SPSA's Adam learning rate.")
_SPSA_DELTA = flags.DEFINE_float("spsa_delta", 0.01, "SPSA's finite-difference size.")
_TOLERANCE = flags.DEFINE_float("tolerance", 0.01, "Slack of the monotonicity checks "
                                "(accuracy).")
_MASKED = flags.DEFINE_float("masked_margin", 0.05, "SPSA this much below the gradient attack "
                             "(accuracy) flags masked gradients.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of the attacks' and the scoring's draws.")
_OUT = flags.DEFINE_string("out", None, "Output directory (default <workdir>/robustness).")
_PLOT = flags.DEFINE_bool("plot", True, "Write robustness.png (needs matplotlib: pip install "
                          "'.[viz]').")
_TABLE = flags.DEFINE_list("table", None, "robustness.json files: print their markdown table "
                           "and exit.")


def parse_eps(values) -> list[float]:
  try:
    eps = [float(v) for v in values]
  except ValueError as e:
    raise app.UsageError(f"--eps={','.join(values)} must be numbers: {e}") from None
  if not eps or any(e <= 0 for e in eps) or eps != sorted(set(eps)):
    raise app.UsageError(f"--eps={','.join(values)} must be positive and increasing, "
                         "e.g. --eps=0.05,0.1,0.2,0.3.")
  return eps


def check_flags(eps: list[float]) -> float | None:
  """Raises UsageError on bad flags (before any loading); returns SPSA's radius or None."""
  for name, value in (("steps", _STEPS.value), ("restarts", _RESTARTS.value),
                      ("eot", _EOT.value), ("num", _NUM.value), ("batch", _BATCH.value),
                      ("spsa_steps", _SPSA_STEPS.value), ("spsa_samples", _SPSA_SAMPLES.value),
                      ("spsa_batch", _SPSA_BATCH.value)):
    if value < 1:
      raise app.UsageError(f"--{name}={value} must be >= 1.")
  if _STEP_SIZE.value <= 0 or _SPSA_LR.value <= 0 or _SPSA_DELTA.value <= 0:
    raise app.UsageError("--step_size, --spsa_lr and --spsa_delta must be positive.")
  if not 0 <= _SPSA_NUM.value <= _NUM.value:
    raise app.UsageError(f"--spsa_num={_SPSA_NUM.value} must lie in [0, --num={_NUM.value}].")
  if _PLOT.value and importlib.util.find_spec("matplotlib") is None:
    raise app.UsageError("--plot needs matplotlib: pip install '.[viz]', or pass --plot=false.")
  if _SPSA_NUM.value == 0:
    return None
  spsa_eps = eps[-1] if _SPSA_EPS.value is None else _SPSA_EPS.value
  if spsa_eps not in eps:
    raise app.UsageError(f"--spsa_eps={spsa_eps} must be one of --eps={eps}: SPSA is compared "
                         "with PGD at the same radius.")
  return spsa_eps


class Attacker:
  """The method's classifier, jitted once per setting, run over batches of images."""

  def __init__(self, logits, params, num_rollouts: int, batch: int):
    self.params, self.num_rollouts, self.batch = params, num_rollouts, batch

    def model_fn(params, deterministic):
      return lambda x, key: logits(params, x, jax.random.split(key, x.shape[0]), deterministic)

    @functools.partial(jax.jit, static_argnames=("deterministic",))
    def score(params, x, y, key, *, deterministic):
      m = 1 if deterministic else num_rollouts
      return robustness.correct(model_fn(params, deterministic), x, y, key, m)

    @functools.partial(jax.jit, static_argnames=("deterministic", "num_steps", "eot", "norm",
                                                 "loss"))
    def pgd(params, x, y, key, eps, step_size, *, deterministic, num_steps, eot, norm, loss):
      return robustness.pgd(model_fn(params, deterministic), x, y, key, eps=eps,
                            step_size=step_size, num_steps=num_steps, norm=norm, loss=loss,
                            eot_samples=eot)

    @functools.partial(jax.jit, static_argnames=("deterministic", "num_steps", "num_samples",
                                                 "norm"))
    def spsa(params, x, y, key, eps, lr, delta, *, deterministic, num_steps, num_samples, norm):
      return robustness.spsa(model_fn(params, deterministic), x, y, key, eps=eps,
                             num_steps=num_steps, num_samples=num_samples, delta=delta,
                             learning_rate=lr, norm=norm)

    self._score, self._pgd, self._spsa = score, pgd, spsa

  def _batches(self, x, y, size):
    for i in range(0, len(y), size):
      yield i, x[i:i + size], y[i:i + size]

  def correct(self, x, y, score_key, *, deterministic: bool, batch: int | None = None,
              make_adv=None) -> np.ndarray:
    """[N] bool; make_adv(batch index, x, y) -> attacked x, or None for the clean images."""
    out = []
    for i, xb, yb in self._batches(x, y, batch or self.batch):
      if make_adv is not None:
        xb = make_adv(i, xb, yb)
      out.append(jax.device_get(self._score(
          self.params, xb, yb, jax.random.fold_in(score_key, i), deterministic=deterministic)))
    return np.concatenate(out)

  def pgd(self, i, x, y, key, eps, step_size, **static):
    return self._pgd(self.params, x, y, jax.random.fold_in(key, i), eps, step_size, **static)

  def spsa(self, i, x, y, key, eps, lr, delta, **static):
    return self._spsa(self.params, x, y, jax.random.fold_in(key, i), eps, lr, delta, **static)


def run_series(attacker, x, y, keys, eps_list, spec, args) -> tuple[list[float], dict]:
  """Accuracy per eps of one series, and per-example correctness {eps: [N] bool}."""
  accs, per_example = [], {}
  for eps in eps_list:
    ok = np.ones(len(y), bool)
    restarts = args["restarts"] if spec["attack"] == "pgd" else 1
    for r in range(restarts):
      attack_key = jax.random.fold_in(jax.random.fold_in(keys["attack"], r),
                                      int(round(eps * 1e6)))
      if spec["attack"] == "noise":
        make_adv = lambda i, xb, yb, k=attack_key, e=eps: robustness.uniform_noise(
            jax.random.fold_in(k, i), xb, e)
      else:
        make_adv = lambda i, xb, yb, k=attack_key, e=eps: attacker.pgd(
            i, xb, yb, k, e, args["step_size"], deterministic=spec["deterministic"],
            num_steps=spec.get("steps", args["steps"]), eot=spec["eot"], norm=args["norm"],
            loss=args["loss"])
      ok &= attacker.correct(x, y, keys["score"], deterministic=spec["deterministic"],
                             make_adv=make_adv)
    per_example[eps] = ok
    accs.append(float(ok.mean()))
  return accs, per_example


def series_specs(stochastic: bool, eot: int) -> dict:
  if not stochastic:
    return {"noise": {"attack": "noise", "deterministic": True, "eot": 1},
            "pgd": {"attack": "pgd", "deterministic": True, "eot": 1}}
  return {
      "noise": {"attack": "noise", "deterministic": False, "eot": 1},
      "pgd": {"attack": "pgd", "deterministic": False, "eot": 1},
      "pgd_eot": {"attack": "pgd", "deterministic": False, "eot": eot},
      "noise_det": {"attack": "noise", "deterministic": True, "eot": 1},
      "pgd_det": {"attack": "pgd", "deterministic": True, "eot": 1},
  }


def scoring(series: str, stochastic: bool) -> str:
  """How a series is scored: 'deterministic' (the `_det` series, every series of a
  deterministic method) or 'sampled'."""
  return "deterministic" if series.endswith("_det") or not stochastic else "sampled"


def checks(report: dict, tolerance: float, masked_margin: float) -> dict:
  """The sanity checks of the module docstring, each {'passed': bool, 'detail': str}."""
  out = {}
  series = report["series"]
  for name, accs in series.items():
    if name.startswith("noise"):
      continue
    clean = report["clean"][scoring(name, report["stochastic"])]
    values = [clean, *accs]
    out[f"{name}_non_increasing_in_eps"] = {
        "passed": robustness.non_increasing(values, tolerance),
        "detail": f"clean then eps {report['eps']}: {[round(v, 4) for v in values]}"}
    noise = series["noise_det" if name.endswith("_det") else "noise"]
    out[f"{name}_below_noise"] = {
        "passed": all(a <= n + tolerance for a, n in zip(accs, noise, strict=True)),
        "detail": f"attack {[round(v, 4) for v in accs]}, noise {[round(v, 4) for v in noise]}"}
  s = report["steps_check"]
  out["non_increasing_in_steps"] = {
      "passed": robustness.non_increasing(s["accuracy"], tolerance),
      "detail": f"{s['series']} at eps {s['eps']}, steps {s['steps']}: {s['accuracy']}"}
  if not report["stochastic"]:
    last = series["pgd"][-1]
    out["undefended_collapses"] = {
        "passed": last < 0.1,
        "detail": f"PGD accuracy {last:.4f} at eps {report['eps'][-1]} (a network without "
                  "defence should fall under 0.1; if not, suspect the attack)"}
  if "spsa" in report:
    for mode, row in report["spsa"]["scores"].items():
      out[f"no_gradient_masking_{mode}"] = {
          "passed": row["spsa"] >= row["gradient_attack"] - masked_margin,
          "detail": f"on {report['spsa']['num']} images at eps {report['spsa']['eps']}: SPSA "
                    f"{row['spsa']:.4f}, {row['gradient_attack_name']} {row['gradient_attack']:.4f}"
                    f", both {row['worst']:.4f}"}
  return out


def plot(path: str, report: dict, title: str) -> None:
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  fig, ax = plt.subplots(figsize=(5.2, 3.6))
  xs = [0.0, *report["eps"]]
  for name, accs in report["series"].items():
    clean = report["clean"][scoring(name, report["stochastic"])]
    ax.plot(xs, [clean, *accs], marker="o", ms=3, ls=":" if name.startswith("noise") else "-",
            label=name)
  if "spsa" in report:
    for mode, row in report["spsa"]["scores"].items():
      ax.scatter([report["spsa"]["eps"]], [row["spsa"]], marker="x", zorder=3,
                 label=f"spsa ({mode}, {report['spsa']['num']} images)")
  ax.set(xlabel=f"epsilon ({report['norm']})", ylabel="accuracy", ylim=(-0.02, 1.02),
         title=title)
  ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def table(paths: list[str]) -> str:
  """A markdown table: one row per report, robust accuracy of each attack at each eps."""
  reports = []
  for p in paths:
    with open(p) as f:
      reports.append(json.load(f))
  eps = reports[0]["eps"]
  head = ("| run | method | clean | attack | " + " | ".join(f"eps {e:g}" for e in eps)
          + " | SPSA |\n|" + "---|" * (5 + len(eps)))
  rows = []
  for p, r in zip(paths, reports, strict=True):
    if r["eps"] != eps:
      raise ValueError(f"{p} swept eps {r['eps']}, the first report {eps}: one table per sweep.")
    for name, accs in r["series"].items():
      mode = scoring(name, r["stochastic"])
      spsa = r.get("spsa", {}).get("scores", {}).get(mode)
      spsa_cell = (f"{100 * spsa['spsa']:.1f}% (PGD {100 * spsa['gradient_attack']:.1f}%)"
                   if spsa and not name.startswith("noise") else "")
      rows.append(f"| {r['run']} | {r['method']} | {100 * r['clean'][mode]:.1f}% | {name} | "
                  + " | ".join(f"{100 * a:.1f}%" for a in accs) + f" | {spsa_cell} |")
  return head + "\n" + "\n".join(rows)


def train_command(workdir: str) -> str | None:
  """The command that trained the workdir, from its results.json (None if unfinished)."""
  path = os.path.join(workdir, "results.json")
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f).get("command")


def main(argv):
  del argv
  if _TABLE.value:
    print(table(_TABLE.value))
    return
  if not _WORKDIR.value:
    raise app.UsageError("--workdir is required (or --table=a.json,b.json to tabulate).")
  eps = parse_eps(_EPS.value)
  spsa_eps = check_flags(eps)
  config, method, model, state, meta = loop.load_trained(_WORKDIR.value)
  if method.make_logits is None:
    raise ValueError(f"Method {method.name!r} defines no make_logits: it cannot be attacked.")
  images, labels = pipeline.eval_images(config.data, _SPLIT.value, _NUM.value)
  x = jnp.asarray(images, jnp.float32) / 255.0
  y = jnp.asarray(labels)
  num_rollouts = config.eval.get("num_rollouts", 1) if method.stochastic else 1
  attacker = Attacker(method.make_logits(config, model), method.inference_params(state),
                      num_rollouts, _BATCH.value)
  base = jax.random.key(_SEED.value)
  keys = {"score": jax.random.fold_in(base, 0), "attack": jax.random.fold_in(base, 1),
          "spsa": jax.random.fold_in(base, 2)}
  args = {"steps": _STEPS.value, "step_size": _STEP_SIZE.value, "restarts": _RESTARTS.value,
          "norm": _NORM.value, "loss": _LOSS.value}
  start = time.time()
  report = {
      **provenance.provenance(), "workdir": _WORKDIR.value,
      "run": os.path.basename(os.path.normpath(_WORKDIR.value)), "method": method.name,
      "train_command": train_command(_WORKDIR.value), "network_step": int(meta["step"]),
      "stochastic": method.stochastic, "split": _SPLIT.value, "num": int(len(labels)),
      "eps": eps, "norm": _NORM.value, "steps": _STEPS.value, "step_size": _STEP_SIZE.value,
      "restarts": _RESTARTS.value, "eot": _EOT.value if method.stochastic else 1,
      "loss": _LOSS.value, "num_rollouts": num_rollouts, "seed": _SEED.value,
  }
  clean = {"sampled": attacker.correct(x, y, keys["score"], deterministic=False),
           "deterministic": attacker.correct(x, y, keys["score"], deterministic=True)}
  report["clean"] = {k: float(v.mean()) for k, v in clean.items()}
  print("clean", report["clean"], flush=True)
  specs = series_specs(method.stochastic, _EOT.value)
  report["series"], per_example = {}, {}
  for name, spec in specs.items():
    report["series"][name], per_example[name] = run_series(attacker, x, y, keys, eps, spec,
                                                           args)
    print(name, dict(zip(eps, report["series"][name], strict=True)), f"{time.time() - start:.0f} s",
          flush=True)
  if method.stochastic:
    report["series"]["worst"] = [float((per_example["pgd"][e] & per_example["pgd_eot"][e]
                                        ).mean()) for e in eps]
  main_series = "pgd_eot" if method.stochastic else "pgd"
  fewer = sorted({max(1, _STEPS.value // 4), max(1, _STEPS.value // 2)} - {_STEPS.value})
  accs = [run_series(attacker, x, y, keys, [eps[-1]], {**specs[main_series], "steps": s},
                     args)[0][0] for s in fewer]
  report["steps_check"] = {"series": main_series, "eps": eps[-1], "steps": [*fewer, _STEPS.value],
                           "accuracy": [*accs, report["series"][main_series][-1]]}
  if spsa_eps is not None:
    n = _SPSA_NUM.value
    scores = {}
    modes = (("sampled", False, "pgd_eot"), ("deterministic", True, "pgd_det")) if (
        method.stochastic) else (("deterministic", True, "pgd"),)
    for mode, deterministic, gradient_name in modes:
      make_adv = lambda i, xb, yb, d=deterministic: attacker.spsa(
          i, xb, yb, keys["spsa"], spsa_eps, _SPSA_LR.value, _SPSA_DELTA.value,
          deterministic=d, num_steps=_SPSA_STEPS.value, num_samples=_SPSA_SAMPLES.value,
          norm=_NORM.value)
      ok = attacker.correct(x[:n], y[:n], keys["score"], deterministic=deterministic,
                            batch=_SPSA_BATCH.value, make_adv=make_adv)
      gradient_ok = per_example[gradient_name][spsa_eps][:n]
      scores[mode] = {"spsa": float(ok.mean()), "gradient_attack_name": gradient_name,
                      "gradient_attack": float(gradient_ok.mean()),
                      "worst": float((ok & gradient_ok).mean())}
      print("spsa", mode, scores[mode], f"{time.time() - start:.0f} s", flush=True)
    report["spsa"] = {"eps": spsa_eps, "num": n, "steps": _SPSA_STEPS.value,
                      "samples": _SPSA_SAMPLES.value, "learning_rate": _SPSA_LR.value,
                      "delta": _SPSA_DELTA.value, "loss": "margin", "scores": scores}
  report["seconds"] = time.time() - start
  report["checks"] = checks(report, _TOLERANCE.value, _MASKED.value)
  for name, c in report["checks"].items():
    print(("PASS " if c["passed"] else "FAIL ") + name + ": " + c["detail"])
  out_dir = _OUT.value or os.path.join(_WORKDIR.value, "robustness")
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, "robustness.json"), "w") as f:
    json.dump(report, f, indent=1)
  if _PLOT.value:
    plot(os.path.join(out_dir, "robustness.png"), report,
         f"{report['run']} ({method.name}), {report['num']} {_SPLIT.value} images")
  print("wrote", os.path.join(out_dir, "robustness.json"))


if __name__ == "__main__":
  app.run(main)
