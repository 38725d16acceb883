"""`--config=<workdir>/config.json`: the config a workdir was trained with, as a config file.

`attn_rl.main` rewrites a `--config` that ends in `.json` to this module with the JSON path
as its argument, so `--config.<key>=value` overrides still apply. Keys added to the method
since that run get their old-behaviour values (`checkpointing.fill_added_keys`), so the
config builds the model that wrote the checkpoint.
"""

from __future__ import annotations

import json

import ml_collections

from attn_rl.core import checkpointing
from attn_rl.core import method as method_lib


def get_config(path: str) -> ml_collections.ConfigDict:
  with open(path) as f:
    config = ml_collections.ConfigDict(json.load(f))
  if "method" not in config:
    raise ValueError(f"{path} holds no 'method': pass a config.json that attn_rl.main wrote.")
  checkpointing.fill_added_keys(config, method_lib.get(config.method).defaults())
  config.lock()
  return config
