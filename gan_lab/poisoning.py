"""Data poisoning: training sets in which some examples carry wrong labels, as numpy arrays.

`config.poison.kind` picks the attack (the other fields of `config.poison` are its settings):

- "random_flip": a `fraction` of all training examples get a uniformly random *other* label;
- "class_flip": a `fraction` of the `source_class` examples are relabelled `target_class`;
- "backdoor": a `fraction` of the examples not of `target_class` get the trigger (a
  `patch_size` square of 255 in the bottom-right corner, `add_trigger`) and `target_class`.

Flips keep every image as it is. Which examples are poisoned depends only on the seed and
the labels, and a smaller fraction poisons a subset of what a larger one does, so runs over
fractions differ only in the extra poisoned examples.
"""

import numpy as np

from gan_lab.core.errors import UserError

KINDS = ("random_flip", "class_flip", "backdoor")
# np.random streams [seed, epoch] order the batches; this one picks the poisoned examples.
_STREAM = 10**9


def validate(p, num_classes: int, image_size: tuple[int, int]) -> None:
  """Checks the settings `p.kind` uses; raises UserError with one sentence naming the problem."""
  if p.kind not in KINDS:
    raise UserError(f"Unknown config.poison.kind {p.kind!r}; choose one of {', '.join(KINDS)}.")
  if not 0.0 <= p.fraction <= 1.0:
    raise UserError(f"config.poison.fraction must be in [0, 1]; got {p.fraction}.")
  names = {"class_flip": ("source_class", "target_class"), "backdoor": ("target_class",)}
  for name in names.get(p.kind, ()):
    if not 0 <= p[name] < num_classes:
      raise UserError(f"config.poison.{name} must be a class in [0, {num_classes - 1}]; "
                      f"got {p[name]}.")
  if p.kind == "class_flip" and p.source_class == p.target_class:
    raise UserError(f"config.poison.source_class and target_class are both {p.source_class}; "
                    "a class flip needs two different classes.")
  if p.kind == "backdoor" and not 1 <= p.patch_size <= min(image_size):
    raise UserError(f"config.poison.patch_size must be in [1, {min(image_size)}] to fit the "
                    f"{image_size[0]}x{image_size[1]} images; got {p.patch_size}.")


def add_trigger(images: np.ndarray, patch_size: int) -> np.ndarray:
  """A copy of uint8 images [N, H, W, C] with a `patch_size` square of 255 at the bottom right."""
  images = np.array(images, copy=True)
  images[:, -patch_size:, -patch_size:, :] = 255
  return images


def poison(train: dict, p, num_classes: int, seed: int) -> tuple[dict, np.ndarray]:
  """(poisoned copy of {"image", "label"}, sorted indices of the poisoned examples)."""
  validate(p, num_classes, train["image"].shape[1:3])
  labels = train["label"]
  eligible = {"random_flip": np.arange(len(labels)),
              "class_flip": np.flatnonzero(labels == p.source_class),
              "backdoor": np.flatnonzero(labels != p.target_class)}[p.kind]
  rng = np.random.default_rng([seed, _STREAM])
  # The first k of a whole permutation (and of whole offsets): nested over fractions.
  order = rng.permutation(eligible)
  k = int(round(p.fraction * len(eligible)))
  chosen = order[:k]
  images, labels = train["image"], np.array(labels, copy=True)
  if p.kind == "random_flip":  # An offset of 1 to K - 1 classes is always another class.
    offsets = rng.integers(1, num_classes, size=len(order))[:k]
    labels[chosen] = (labels[chosen] + offsets) % num_classes
  else:
    labels[chosen] = p.target_class
  if p.kind == "backdoor":
    images = images.copy()
    images[chosen] = add_trigger(images[chosen], p.patch_size)
  return {**train, "image": images, "label": labels}, np.sort(chosen)


def attack_metrics(p, labels: np.ndarray, predictions: np.ndarray,
                   triggered_predictions: np.ndarray | None = None) -> dict:
  """{target_class_accuracy, attack_success} from test labels and a model's predicted classes.

  class_flip: accuracy on the source class, and the share of it predicted as the target.
  backdoor: accuracy on clean target-class images, and the share of the other images that
  are predicted as the target once they carry the trigger (`triggered_predictions`).
  random_flip: the worst class's accuracy, and the error rate.
  """
  correct = predictions == labels
  if p.kind == "class_flip":
    source = labels == p.source_class
    return {"target_class_accuracy": float(np.mean(correct[source])),
            "attack_success": float(np.mean(predictions[source] == p.target_class))}
  if p.kind == "backdoor":
    target = labels == p.target_class
    return {"target_class_accuracy": float(np.mean(correct[target])),
            "attack_success": float(np.mean(triggered_predictions[~target] == p.target_class))}
  per_class = [np.mean(correct[labels == c]) for c in np.unique(labels)]
  return {"target_class_accuracy": float(np.min(per_class)),
          "attack_success": float(1.0 - np.mean(correct))}
