"""Person re-ID on DukeMTMC-reID with reinforced attention (DREAL, Li & Chen 2020, Sec. 4.2).

Variants (comma-separated): the attention module `cbam` (default: the paper's sequential
channel + spatial arrangement), `se`, `srm` or `none` (a plain ResNet-50, needs `vanilla`);
`vanilla` (attention trained by the losses alone, no critics); `quicktest` (a tiny network on
the synthetic RGB stand-in: seconds, no data needed).

Data: DukeMTMC-reID/ as distributed (bounding_box_train, query, bounding_box_test),
under --config.data.root; counts are checked (16,522 / 2,228 / 17,661). The paper starts from
ImageNet weights: train configs/dreal_imagenet.py:cbam and pass its workdir as
--config.model.init_from (no pretrained weights are downloaded).

Run:
  python -m attn_rl.main --config=configs/reid_dukemtmc.py \
    --config.data.root=/data/reid --config.model.init_from=runs/dreal_imagenet_cbam \
    --workdir=runs/reid_dukemtmc
  ... --config=configs/reid_dukemtmc.py:vanilla   (the vanilla attention network)
Paper (Table 2, DukeMTMC-reID): reinforced attention Rank-1 / mAP 3.2 / 2.6 points above the
vanilla attention network. Not measured here: the data cannot be had on this project's
machines (docs/reid.md has the offline measurement).
"""

from attn_rl.methods.dreal import config as dreal_config
from attn_rl.methods.reid import config as reid_config

FLAGS = ("vanilla", "quicktest")


def get_config(arg=None):
  attention, flags = dreal_config.parse(arg, FLAGS, default="cbam")
  c = reid_config.defaults()
  c = reid_config.person_recipe(c, dataset="dukemtmc_reid", train_images=16522,
                                attention=attention, flags=flags)
  c.lock()
  return c
