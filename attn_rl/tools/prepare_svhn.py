"""SVHN format 1 -> the Goodfellow crops DRAM trains on (data/sequences.py).

  python -m attn_rl.tools.prepare_svhn --root=<svhn> --out=<prepared> [--splits=train,extra,test]

<svhn>/<split>/ holds the PNGs and digitStruct.mat of each tarball. Writes
<prepared>/svhn_<split>.npz: image uint8 [N, 64, 64] (grayscale), label int32 [N, 6] (digits
then END), length [N]; images with more than 5 digits are dropped (their count is stored).
"""

from __future__ import annotations

from absl import app, flags

from attn_rl.data import sequences

_ROOT = flags.DEFINE_string("root", None, "Folder holding train/, extra/, test/.", required=True)
_OUT = flags.DEFINE_string("out", None, "Folder to write svhn_<split>.npz into.", required=True)
_SPLITS = flags.DEFINE_list("splits", ["train", "extra", "test"], "Splits to prepare.")


def main(argv):
  del argv
  for split in _SPLITS.value:
    print(sequences.prepare_svhn(_ROOT.value, _OUT.value, split))


if __name__ == "__main__":
  app.run(main)
