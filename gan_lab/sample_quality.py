"""How good and how varied a GAN's samples are, judged by a classifier this project trained.

No pretrained network is downloaded: a classifier run (`experiments/train.py` with a
classifier config) on the GAN's dataset is the judge (`gan_lab.runs.restore.judge` makes one
from its workdir). From its predictions and its penultimate features ("features", see
`gan_lab.models.cnn`):

- mode coverage: the histogram of predicted classes over the samples, the number of classes
  covered (those receiving at least a quarter of their share in the data), and
  KL(sample classes || data classes), which is 0 for a perfect match and log K for samples
  that all look like one of K equally frequent classes;
- classifier-FID: the Fréchet distance between Gaussians fitted to the features of the
  samples and of the test images (Heusel et al. 2017, with this classifier for Inception);
- an Inception Score analogue, exp(E_x KL(p(y|x) || p(y))): from 1 (one class, or
  undecided predictions) up to K (confident and evenly spread).
"""

import jax
import numpy as np

from gan_lab import inference

COVERED_SHARE = 0.25  # A class is covered when it gets >= this fraction of its data share.


def class_coverage(probs: np.ndarray, data_freq: np.ndarray) -> dict:
  """{histogram, classes_covered, class_kl} of predicted classes for probabilities [N, K]."""
  k = len(data_freq)
  hist = np.bincount(np.argmax(probs, -1), minlength=k) / len(probs)
  nonzero = hist > 0
  kl = float(np.sum(hist[nonzero] * np.log(hist[nonzero] / data_freq[nonzero])))
  return {"histogram": hist, "classes_covered": int(np.sum(hist >= COVERED_SHARE * data_freq)),
          "class_kl": kl}


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
  features = np.asarray(features, np.float64)
  return features.mean(0), np.cov(features, rowvar=False)


def _sqrt_psd(s: np.ndarray) -> np.ndarray:
  w, v = np.linalg.eigh(s)
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_distance(a: tuple, b: tuple) -> float:
  """||mu_a - mu_b||^2 + Tr(S_a + S_b - 2 (S_a S_b)^(1/2)) for (mean, covariance) pairs.

  Tr (S_a S_b)^(1/2) is computed as the sum of the square roots of the eigenvalues of the
  symmetric S_a^(1/2) S_b S_a^(1/2): stable for the singular covariances of ReLU features
  (dead units), where a general matrix square root is not.
  """
  (mu_a, s_a), (mu_b, s_b) = a, b
  root_a = _sqrt_psd(s_a)
  cross = np.sum(np.sqrt(np.clip(np.linalg.eigvalsh(root_a @ s_b @ root_a), 0.0, None)))
  distance = np.sum((mu_a - mu_b) ** 2) + np.trace(s_a) + np.trace(s_b) - 2.0 * cross
  return max(0.0, float(distance))  # Round-off can dip below 0 for equal inputs.


def inception_score(probs: np.ndarray) -> float:
  probs = np.asarray(probs, np.float64)
  marginal = probs.mean(0, keepdims=True)
  kl = np.sum(probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12)), axis=1)
  return float(np.exp(kl.mean()))


class Judge:
  """Scores batches of images in [0, 1] with a classifier's `logits_and_features` function.

  `reference` ({"image": uint8, "label"}: the dataset's test split) is featurised once, here.
  """

  def __init__(self, features_fn, reference: dict, num_classes: int, batch_size: int = 500):
    self._fn = jax.jit(features_fn)
    self._batch_size = batch_size
    self.data_freq = np.bincount(reference["label"], minlength=num_classes
                                 ) / len(reference["label"])
    _, features = self.predict(inference.to_float(np.asarray(reference["image"])))
    self.reference = gaussian_stats(features)

  def predict(self, images) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities [N, K], features [N, F]) of float images in [0, 1]."""
    logits, features = inference.batched(self._fn, images, batch_size=self._batch_size)
    return np.asarray(jax.nn.softmax(logits, -1)), features

  def __call__(self, images) -> dict:
    """{classes_covered, class_kl, classifier_fid, inception_score, class_histogram}."""
    probs, features = self.predict(images)
    coverage = class_coverage(probs, self.data_freq)
    return {"classes_covered": coverage["classes_covered"], "class_kl": coverage["class_kl"],
            "classifier_fid": frechet_distance(gaussian_stats(features), self.reference),
            "inception_score": inception_score(probs),
            "class_histogram": coverage["histogram"]}


def collapse_warnings(history: list[dict], num_classes: int) -> list[str]:
  """Sentences for a GAN run that looks collapsed, from its logged metrics (oldest first).

  Three signs the lecture names: samples covering few classes; a discriminator that wins
  outright (D loss near 0, so G's gradients vanish); losses swinging while sample quality
  (classifier-FID) stops improving.
  """
  if not history:
    return []
  latest, out = history[-1], []
  covered = latest.get("test_classes_covered")
  if covered is not None and covered <= num_classes // 2:
    out.append(f"mode collapse suspected: the samples cover only {covered:.0f} of "
               f"{num_classes} classes (class KL {latest['test_class_kl']:.2f}); see samples/.")
  d_loss = latest.get("train_d_loss")
  if d_loss is not None and d_loss < 0.05:
    out.append(f"the discriminator wins outright (D loss {d_loss:.3g}), so the generator's "
               "gradients vanish; try label smoothing or a lower D learning rate.")
  g_losses = np.array([h["train_g_loss"] for h in history if "train_g_loss" in h][-6:])
  fids = [h["test_classifier_fid"] for h in history if "test_classifier_fid" in h]
  if len(g_losses) == 6 and len(fids) >= 4:
    swinging = g_losses.std() > 0.2 * np.abs(g_losses).mean()
    stalled = min(fids[-2:]) >= 0.95 * min(fids[:-2])
    if swinging and stalled:
      out.append(f"the losses oscillate (G loss {g_losses.min():.2f} to {g_losses.max():.2f}) "
                 f"while the classifier-FID stopped improving ({fids[-1]:.3g}, best "
                 f"{min(fids):.3g}).")
  return out
