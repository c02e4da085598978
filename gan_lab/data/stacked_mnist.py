"""Stacked MNIST (Metz et al. 2017, as VEEGAN and PacGAN count modes) from the embedded digits.

Each image holds three mnist5k digits of one split as its red, green and blue channels
(28x28x3 uint8); its label, 100 * red + 10 * green + blue, is one of 1,000 classes: the
modes a GAN should cover, judged by a classifier of the single digits, channel by channel
(`sample_quality.StackedJudge`).

Sizes: every mode appears equally often, 26 times in train (26,000 images, 61 MB) and 10
times in test (10,000 images, 24 MB). So the data's mode histogram is exactly the uniform one
that PacGAN's mode KL compares with, train holds the 26,000 real images a real baseline at
VEEGAN's and PacGAN's sample count (26,000) needs without repeating one, and test gives FID
and the k-NN metrics a reference of 10,000 images (Naeem et al.'s count).

Train images stack mnist5k train digits, test images mnist5k test digits, so no digit is
shared between the splits. In each channel, the digits of a class are a permutation of that
class's digits in the split, cycled: each is used equally often (6 or 7 times per channel in
train, 10 in test); with 400^3 or 100^3 triples per mode, repeated images are negligible.
Drawn with a fixed seed per split.
"""

import numpy as np

DIGITS = 10
NUM_CHANNELS = 3
NUM_MODES = DIGITS**NUM_CHANNELS
PER_MODE = {"train": 26, "test": 10}
CLASS_NAMES = tuple(f"{m:03d}" for m in range(NUM_MODES))
_SEED = 20170101  # Any fixed number; part of the dataset's identity.


def stack(digits: dict, split: str) -> dict:
  """{"image": uint8 [N, 28, 28, 3], "label": int32 [N]} from mnist5k's `split` (`digits`)."""
  rng = np.random.default_rng([_SEED, list(PER_MODE).index(split)])
  labels = rng.permutation(np.repeat(np.arange(NUM_MODES), PER_MODE[split]))
  wanted = labels[:, None] // DIGITS ** np.arange(NUM_CHANNELS - 1, -1, -1) % DIGITS  # [N, 3]
  picks = np.empty_like(wanted)
  for c in range(NUM_CHANNELS):
    for d in range(DIGITS):
      where = np.flatnonzero(wanted[:, c] == d)
      picks[where, c] = np.resize(rng.permutation(np.flatnonzero(digits["label"] == d)),
                                  len(where))
  images = np.asarray(digits["image"])[picks, ..., 0]  # [N, 3, 28, 28]
  return {"image": np.ascontiguousarray(np.moveaxis(images, 1, -1)),
          "label": labels.astype(np.int32)}
