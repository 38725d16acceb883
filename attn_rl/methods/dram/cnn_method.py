"""The CNN baseline's Method record (`method='seq_cnn'`): one group, `network`."""

from __future__ import annotations

from attn_rl.core import method as method_lib
from attn_rl.methods.dram import cnn
from attn_rl.methods.dram import config as dram_config

METHOD = method_lib.Method(
    name="seq_cnn",
    defaults=dram_config.cnn_defaults,
    validate=dram_config.validate_cnn,
    make_model=cnn.make_model,
    init_state=cnn.init_state,
    make_train_step=cnn.make_train_step,
    make_eval_step=cnn.make_eval_step,
    make_predict=cnn.make_predict,
    inference_params=lambda state: state.params(),
    log_keys=("loss/total", "acc", "acc/digit"),
    report="attn_rl.methods.dram.paper",
)
