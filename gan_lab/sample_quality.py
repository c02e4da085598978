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
  undecided predictions) up to K (confident and evenly spread);
- classifier-KID (Binkowski et al. 2018): the unbiased MMD^2 between the features with the
  kernel (x.y / d + 1)^3, over random subsets; unlike FID it has an unbiased estimator, so
  two samples of one distribution read ~0 at any sample count;
- precision and recall (Kynkaanniemi et al. 2019), density and coverage (Naeem et al. 2020)
  from k-nearest-neighbour balls in feature space: the share of samples that look real and
  of real images that the samples reach, FID's two failure modes told apart.

FID, KID and precision/recall/density/coverage all depend on the number of samples, so
`Judge.real_baseline` gives what each reads for real training images at the same count.
"""

import jax
import numpy as np

from gan_lab import inference
from gan_lab.core.errors import UserError

COVERED_SHARE = 0.25  # A class is covered when it gets >= this fraction of its data share.
# Naeem et al.'s sample count; beyond it the k-NN distances (quadratic) cost more than they add.
PRDC_MAX_SAMPLES = 10_000
PRDC_K = 5  # Naeem et al.'s choice for their 10,000 samples.
KID_SUBSET_SIZE = 1000
_CHUNK_ELEMENTS = 2**24  # Distances computed this many at a time: 128 MiB of float64.
# KID computes each set's whole kernel once when both sets have at most this many rows (32 MiB
# of float64 each); larger sets (Stacked MNIST's 26,000 samples) get each subset's kernels.
_KERNEL_ROWS = 2048


def histogram_kl(hist: np.ndarray, reference: np.ndarray) -> float:
  """KL(hist || reference) of two histograms; classes `hist` never hits add nothing."""
  nonzero = hist > 0
  return float(np.sum(hist[nonzero] * np.log(hist[nonzero] / reference[nonzero])))


def class_coverage(probs: np.ndarray, data_freq: np.ndarray) -> dict:
  """{histogram, classes_covered, class_kl} of predicted classes for probabilities [N, K]."""
  hist = np.bincount(np.argmax(probs, -1), minlength=len(data_freq)) / len(probs)
  return {"histogram": hist, "classes_covered": int(np.sum(hist >= COVERED_SHARE * data_freq)),
          "class_kl": histogram_kl(hist, data_freq)}


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


def _cubic_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  return (x @ y.T / x.shape[1] + 1.0) ** 3


def _unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
  """Unbiased MMD^2 of the cubic kernel: the within-set means leave out k(x_i, x_i)."""
  within = lambda k: (k.sum() - np.trace(k)) / (len(k) * (len(k) - 1))
  return float(within(_cubic_kernel(x, x)) + within(_cubic_kernel(y, y))
               - 2.0 * _cubic_kernel(x, y).mean())


def kernel_inception_distance(feats_a, feats_b, num_subsets: int = 100, subset_size: int = 1000,
                              seed: int = 0) -> tuple[float, float]:
  """(mean, std) over `num_subsets` random subsets of the unbiased MMD^2 between two feature
  sets [N, F] with the kernel k(x, y) = (x.y / F + 1)^3 (Binkowski et al. 2018), in float64.

  Each subset draws `subset_size` rows of each set without replacement (capped at the smaller
  set's size). The std is the spread over subsets, not the estimator's sampling error: it is
  0 when a subset holds both sets whole.
  """
  a, b = np.asarray(feats_a, np.float64), np.asarray(feats_b, np.float64)
  size = min(subset_size, len(a), len(b))
  if size < 2 or num_subsets < 1:
    raise UserError(f"KID needs at least 2 feature rows in each set and 1 subset; got "
                    f"{len(a)} and {len(b)} rows and {num_subsets} subsets.")
  if size == len(a) == len(b):
    num_subsets = 1  # Every subset would be both sets whole, in another order.
  rng = np.random.default_rng(seed)
  draws = [(rng.choice(len(a), size, replace=False), rng.choice(len(b), size, replace=False))
           for _ in range(num_subsets)]
  if max(len(a), len(b)) <= _KERNEL_ROWS:
    mmds = _subset_mmd2s(a, b, draws)
  else:
    mmds = [_unbiased_mmd2(a[i], b[j]) for i, j in draws]
  return float(np.mean(mmds)), float(np.std(mmds))


def _subset_mmd2s(a: np.ndarray, b: np.ndarray, draws) -> np.ndarray:
  """`_unbiased_mmd2(a[i], b[j])` for each (i, j) of `draws`, from each kernel computed once
  over the whole sets: a subset's kernel sum is s K s' for its 0/1 row indicator s."""
  def indicators(rows, n):
    s = np.zeros((len(rows), n))
    s[np.arange(len(rows))[:, None], np.stack(rows)] = 1.0
    return s

  m = len(draws[0][0])
  sa, sb = indicators([i for i, _ in draws], len(a)), indicators([j for _, j in draws], len(b))
  within = lambda s, k: (((s @ k) * s).sum(1) - s @ np.diag(k)) / (m * (m - 1))
  cross = ((sa @ _cubic_kernel(a, b)) * sb).sum(1) / (m * m)
  return within(sa, _cubic_kernel(a, a)) + within(sb, _cubic_kernel(b, b)) - 2.0 * cross


def _row_chunks(num_rows: int, num_cols: int):
  step = max(1, _CHUNK_ELEMENTS // max(num_cols, 1))
  return [slice(i, min(i + step, num_rows)) for i in range(0, num_rows, step)]


def _distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
  """Euclidean distances [len(x), len(y)], by |x|^2 + |y|^2 - 2 x.y as sklearn computes them."""
  squared = np.sum(x * x, 1)[:, None] + np.sum(y * y, 1)[None, :] - 2.0 * x @ y.T
  return np.sqrt(np.clip(squared, 0.0, None))


def _kth_neighbour_distances(x: np.ndarray, k: int) -> np.ndarray:
  """Each row's distance to its k-th nearest other row (itself, at distance 0, is its 0th)."""
  radii = []
  for rows in _row_chunks(len(x), len(x)):
    d = _distances(x[rows], x)
    d[np.arange(len(d)), np.arange(rows.start, rows.stop)] = 0.0  # Not round-off above 0.
    radii.append(np.partition(d, k, axis=1)[:, k])
  return np.concatenate(radii)


def precision_recall_density_coverage(real, fake, k: int = 5) -> dict:
  """{precision, recall, density, coverage} of feature sets real [N, F] and fake [M, F], as
  the prdc package computes them (Naeem et al. 2020), in float64.

  A point's ball reaches its k-th nearest neighbour within its own set (itself excluded).
  precision: the share of fake points inside some real ball; recall: the share of real points
  inside some fake ball; density: the mean number of real balls holding a fake point, over k
  (~1 for fake points spread like the real ones, above 1 where they crowd dense regions);
  coverage: the share of real balls holding a fake point. Strict inequalities, as there.
  """
  real = np.asarray(real, np.float64)
  _check_prdc_sizes(len(real), len(fake), k)
  return _prdc(real, _kth_neighbour_distances(real, k), fake, k)


def _check_prdc_sizes(num_real: int, num_fake: int, k: int) -> None:
  if min(num_real, num_fake) <= k:
    raise UserError(f"Precision, recall, density and coverage with k = {k} need more than {k} "
                    f"points in each set; got {num_real} real and {num_fake} generated, so "
                    f"judge at least {k + 1} samples.")


def _prdc(real: np.ndarray, real_radii: np.ndarray, fake, k: int) -> dict:
  """`precision_recall_density_coverage` with the real balls' radii given (a Judge's are
  computed once)."""
  fake = np.asarray(fake, np.float64)
  fake_radii = _kth_neighbour_distances(fake, k)
  real_balls_per_fake = np.zeros(len(fake))
  covered, recalled = np.zeros(len(real), bool), np.zeros(len(real), bool)
  for rows in _row_chunks(len(real), len(fake)):  # Real rows at a time: memory stays bounded.
    d = _distances(real[rows], fake)
    inside = d < real_radii[rows, None]
    real_balls_per_fake += inside.sum(0)
    covered[rows] = inside.any(1)
    recalled[rows] = (d < fake_radii[None, :]).any(1)
  return {"precision": float(np.mean(real_balls_per_fake > 0)), "recall": float(recalled.mean()),
          "density": float(real_balls_per_fake.mean() / k), "coverage": float(covered.mean())}


def inception_score(probs: np.ndarray) -> float:
  probs = np.asarray(probs, np.float64)
  marginal = probs.mean(0, keepdims=True)
  kl = np.sum(probs * (np.log(probs + 1e-12) - np.log(marginal + 1e-12)), axis=1)
  return float(np.exp(kl.mean()))


def _at_most(features: np.ndarray, num: int, seed: int = 0) -> np.ndarray:
  """`num` rows of `features` drawn with a fixed seed, or all of them when there are fewer."""
  if len(features) <= num:
    return features
  return features[np.random.default_rng(seed).choice(len(features), num, replace=False)]


class Judge:
  """Scores batches of images in [0, 1] with a classifier's `logits_and_features` function.

  `reference` ({"image": uint8, "label"}: the dataset's test split) is featurised once, here;
  its features are kept whole for KID and precision/recall/density/coverage (on at most
  PRDC_MAX_SAMPLES of them and of the samples, each drawn with a fixed seed).
  """

  def __init__(self, features_fn, reference: dict, num_classes: int, batch_size: int = 500):
    self._fn = jax.jit(features_fn)
    self._batch_size = batch_size
    self.data_freq = np.bincount(reference["label"], minlength=num_classes
                                 ) / len(reference["label"])
    _, self.reference_features = self.predict(
        inference.to_float(np.asarray(reference["image"])))
    self.reference = gaussian_stats(self.reference_features)
    self._prdc_reference = _at_most(np.asarray(self.reference_features, np.float64),
                                    PRDC_MAX_SAMPLES)
    self._prdc_radii = _kth_neighbour_distances(self._prdc_reference, PRDC_K)

  def predict(self, images) -> tuple[np.ndarray, np.ndarray]:
    """(class probabilities [N, K], features [N, F]) of float images in [0, 1]."""
    logits, features = inference.batched(self._fn, images, batch_size=self._batch_size)
    return np.asarray(jax.nn.softmax(logits, -1)), features

  def class_scores(self, probs: np.ndarray) -> dict:
    """{classes_covered, class_kl, inception_score, class_histogram} of `predict`'s probs."""
    coverage = class_coverage(probs, self.data_freq)
    return {"classes_covered": coverage["classes_covered"], "class_kl": coverage["class_kl"],
            "inception_score": inception_score(probs), "class_histogram": coverage["histogram"]}

  def feature_scores(self, features: np.ndarray) -> dict:
    """{classifier_fid, kid, kid_std, precision, recall, density, coverage} of sample
    features against the reference's."""
    _check_prdc_sizes(len(self._prdc_reference), len(features), PRDC_K)  # Before any work.
    # Subsets of half the smaller set (at most 1,000, Binkowski et al.'s size), so that the
    # std says how much the subsets disagree even when there are only 1,000 samples.
    size = min(KID_SUBSET_SIZE, min(len(features), len(self.reference_features)) // 2)
    kid, kid_std = kernel_inception_distance(features, self.reference_features,
                                             subset_size=size)
    return {"classifier_fid": frechet_distance(gaussian_stats(features), self.reference),
            "kid": kid, "kid_std": kid_std,
            **_prdc(self._prdc_reference, self._prdc_radii,
                    _at_most(features, PRDC_MAX_SAMPLES), PRDC_K)}

  def __call__(self, images) -> dict:
    """`class_scores` and `feature_scores` of float images in [0, 1], in one dict."""
    probs, features = self.predict(images)
    return {**self.class_scores(probs), **self.feature_scores(features)}

  def real_baseline(self, images) -> dict:
    """The scores of real uint8 images (training images, as many as the GAN's samples): what
    each metric reads for a generator that matches the data, to print beside the GAN's."""
    return self(inference.to_float(np.asarray(images)))


class StackedJudge(Judge):
  """Judges images whose C channels each hold one image of the classifier's K classes
  (Stacked MNIST: three digits), channel by channel.

  A sample's mode is its channels' predicted classes read as a base-K number (100 a + 10 b
  + c for three digits; the stacked dataset's label). Reported: `modes_covered`, the number
  of the K^C modes with at least one sample (VEEGAN's and PacGAN's count, over 26,000
  samples there), and `mode_kl`, KL(sample modes || uniform over the K^C modes), as in
  PacGAN. FID, KID and precision/recall/density/coverage are computed on the concatenation
  of the channels' features (C x F per image).
  """

  def __init__(self, features_fn, reference: dict, channel_classes: int, batch_size: int = 500):
    self.channel_classes = channel_classes
    self.num_modes = channel_classes ** reference["image"].shape[-1]
    super().__init__(features_fn, reference, self.num_modes, batch_size)

  def predict(self, images) -> tuple[np.ndarray, np.ndarray]:
    """(per-channel class probabilities [N, C, K], concatenated features [N, C x F])."""
    channels = [Judge.predict(self, images[..., c:c + 1]) for c in range(images.shape[-1])]
    return (np.stack([p for p, _ in channels], 1),
            np.concatenate([f for _, f in channels], -1))

  def class_scores(self, probs: np.ndarray) -> dict:
    """{modes_covered, mode_kl, class_histogram (of the modes)} of `predict`'s probs."""
    place = self.channel_classes ** np.arange(probs.shape[1])[::-1]
    modes = np.argmax(probs, -1) @ place
    hist = np.bincount(modes, minlength=self.num_modes) / len(modes)
    return {"modes_covered": int(np.sum(hist > 0)),
            "mode_kl": histogram_kl(hist, np.full(self.num_modes, 1.0 / self.num_modes)),
            "class_histogram": hist}


def collapse_warnings(history: list[dict], num_classes: int) -> list[str]:
  """Sentences for a GAN run that looks collapsed, from its logged metrics (oldest first).

  Three signs the lecture names: samples covering few classes (or modes, for a
  `StackedJudge`); a discriminator that wins outright (D loss near 0, so G's gradients
  vanish); losses swinging while sample quality (classifier-FID) stops improving.
  """
  if not history:
    return []
  latest, out = history[-1], []
  for kind, key in (("classes", "class"), ("modes", "mode")):  # Judge's, StackedJudge's.
    covered = latest.get(f"test_{kind}_covered")
    if covered is not None and covered <= num_classes // 2:
      out.append(f"mode collapse suspected: the samples cover only {covered:.0f} of "
                 f"{num_classes} {kind} ({key} KL {latest[f'test_{key}_kl']:.2f}); see "
                 "samples/.")
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
