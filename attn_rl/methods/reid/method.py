"""The re-ID method's record: DREAL's state groups and critics on a BNNeck ResNet, ranked by
the retrieval evaluator; checkpoints selected on validation mAP.

Same groups as DREAL (`backbone`, `actor`, `critic`, frozen `batch_stats`): the network, its
attention modules, critics and rewards are DREAL's, imported, not copied. What re-ID adds:
the losses (`losses.py`), the embedding eval step (`steps.py`), the data (`data/reid.py`) and
`warm_start`, which starts the network from another workdir's checkpoint (an ImageNet DREAL
run: the paper's ImageNet initialisation).
"""

from __future__ import annotations

from attn_rl.backbones import resnet
from attn_rl.core import method as method_lib
from attn_rl.core import warm_start as warm_start_lib
from attn_rl.methods.dreal import method as dreal_method
from attn_rl.methods.dreal import steps as dreal_steps
from attn_rl.methods.reid import config as reid_config
from attn_rl.methods.reid import steps

# Networks never copied by `warm_start`: the classifier (its classes are the source's).
NOT_COPIED = ("head",)
# `model.init_from=<workdir>`: the network (backbone, attention modules, BatchNorm statistics)
# of another run, not its critics.
warm_start = warm_start_lib.warm_start(groups=("backbone", "actor"), frozen=("batch_stats",),
                                       skip=NOT_COPIED)


METHOD = method_lib.Method(
    name="reid",
    defaults=reid_config.defaults,
    validate=reid_config.validate,
    make_model=lambda config, num_classes: resnet.make_resnet(config.model, num_classes),
    init_state=dreal_method.init_state,
    make_train_step=steps.make_train_step,
    make_eval_step=steps.make_eval_step,
    make_predict=dreal_steps.make_predict,
    inference_params=dreal_method.inference_variables,
    warm_start=warm_start,
    evaluator="retrieval",
    selection_metric="map",
    selection_mode="max",
    log_keys=("loss/total", "loss/id", "loss/triplet", "loss/actor", "loss/critic",
              "reward/mean", "acc"),
    retired_keys=reid_config.RETIRED_KEYS,
    report="attn_rl.methods.reid.paper",
)
