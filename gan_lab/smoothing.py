"""Randomized smoothing (Cohen, Rosenfeld & Kolter 2019): a classifier certified in L2.

The smoothed classifier g(x) = argmax_c P(f(x + e) = c), e ~ N(0, sigma^2 I), returns the
class that the base classifier f (the argmax of `logits_fn`) gives most often under Gaussian
noise. If that class has probability p_A >= 1/2, g gives it everywhere within L2 radius
sigma * Phi^-1(p_A) of x. `certify` and `predict` are the paper's Monte Carlo algorithms, as
in its reference implementation (github.com/locuslab/smoothing, code/core.py): each answer
is right with probability at least 1 - alpha, and ABSTAIN (-1) otherwise.

Noise is added in the model's input space (images in [0, 1]) without clipping, as in the
reference: the guarantee is about f on all of R^d. Train f under the same noise
(`config.gaussian_noise_sd`); a model trained on clean images is mostly wrong under it.

Example i's noise comes from its own key (`rng` folded with i, or the i-th of one key per
example), and its s-th noisy copy from that key folded with s, so the results do not depend
on `batch_size` or on how the examples are batched. The sampling is one jitted `lax.map`
over the examples of a `lax.scan` over chunks of `batch_size` noisy copies; it compiles once
per `logits_fn` object and shapes, so pass the same function to repeated calls.
"""

import functools
import numbers

import jax
import jax.numpy as jnp
import numpy as np
from scipy import stats

from gan_lab.attacks.base import LogitsFn, check_args as check_images, example_keys
from gan_lab.core.errors import UserError

ABSTAIN = -1


def check_args(*, sigma, n, batch_size, alpha=None, n0=None) -> None:
  """One sentence for a bad smoothing argument (those given: `predict` has no n0)."""
  if not sigma > 0:
    raise UserError(f"sigma must be > 0; got {sigma}.")
  for name, value in (("n", n), ("n0", n0), ("batch_size", batch_size)):
    if value is not None and not (isinstance(value, numbers.Integral) and value >= 1):
      raise UserError(f"{name} must be an integer >= 1; got {value}.")
  if n0 is not None and n0 > n:
    raise UserError(f"n0 ({n0}) must be at most n ({n}): n0 samples only pick the class "
                    "that the n samples then certify.")
  if alpha is not None and not 0 < alpha < 1:
    raise UserError(f"alpha must be in (0, 1); got {alpha}.")


@functools.partial(jax.jit, static_argnames=("logits_fn", "num", "batch_size"))
def _counts(logits_fn, x, keys, sigma, *, num: int, batch_size: int):
  size = min(batch_size, num)
  starts = jnp.arange(-(-num // size)) * size

  def one_example(args):
    xi, key = args

    def chunk(counts, start):
      index = start + jnp.arange(size)
      noise = jax.vmap(lambda s: jax.random.normal(jax.random.fold_in(key, s), xi.shape,
                                                   xi.dtype))(index)
      logits = logits_fn(xi + sigma * noise)
      hits = jax.nn.one_hot(jnp.argmax(logits, -1), logits.shape[-1], dtype=jnp.int32)
      return counts + jnp.sum(hits * (index < num)[:, None], 0), None  # The tail is padding.

    num_classes = jax.eval_shape(logits_fn, xi[None]).shape[-1]
    return jax.lax.scan(chunk, jnp.zeros(num_classes, jnp.int32), starts)[0]

  return jax.lax.map(one_example, (x, keys))


def _keys(rng, x):
  keys = example_keys(rng, len(x), None)
  if len(keys) != len(x):
    raise UserError(f"rng holds {len(keys)} keys for {len(x)} examples; pass one key, or one "
                    "per example.")
  return keys


def class_counts(logits_fn: LogitsFn, x, *, sigma: float, n: int, batch_size: int = 1000,
                 rng) -> np.ndarray:
  """[examples, classes] int32: how often f gives each class on `n` noisy copies of each
  example of `x`. `rng`: a key, or one key per example."""
  check_images(x, 0.0, (0.0, 1.0))
  check_args(sigma=sigma, n=n, batch_size=batch_size)
  x = jnp.asarray(x)
  return np.asarray(_counts(logits_fn, x, _keys(rng, x), jnp.asarray(sigma, x.dtype),
                            num=n, batch_size=batch_size))


def lower_confidence_bound(count, n: int, alpha: float) -> np.ndarray:
  """The one-sided (1 - alpha) Clopper-Pearson lower bound on p from `count` successes of
  `n`: the reference's proportion_confint(count, n, alpha=2 * alpha, method="beta")[0]."""
  count = np.asarray(count, np.float64)
  with np.errstate(invalid="ignore"):  # count 0: beta.ppf is NaN; the bound is 0.
    bound = stats.beta.ppf(alpha, count, n - count + 1)
  return np.where(count > 0, bound, 0.0)


def certify(logits_fn: LogitsFn, x, *, sigma: float, n0: int = 100, n: int = 100_000,
            alpha: float = 0.001, batch_size: int = 1000, rng):
  """(classes [examples], radii [examples]) of the smoothed classifier at each example of `x`.

  The class with the most of n0 noisy predictions is certified by n more: with p_A_lower
  the one-sided Clopper-Pearson bound at level alpha on its share, the radius is
  sigma * Phi^-1(p_A_lower), and the class ABSTAIN (radius 0) when p_A_lower < 1/2. With
  probability at least 1 - alpha for each example, a class returned is g(x) and g gives it
  within that L2 radius. `rng`: a key, or one key per example.
  """
  check_args(sigma=sigma, n=n, alpha=alpha, batch_size=batch_size, n0=n0)
  keys = _keys(rng, x)
  # Independent draws for picking the class and for certifying it.
  select, estimate = (jax.vmap(lambda k, i=i: jax.random.fold_in(k, i))(keys) for i in (0, 1))
  guess = class_counts(logits_fn, x, sigma=sigma, n=n0, batch_size=batch_size,
                       rng=select).argmax(-1)
  counts = class_counts(logits_fn, x, sigma=sigma, n=n, batch_size=batch_size, rng=estimate)
  p_lower = lower_confidence_bound(counts[np.arange(len(guess)), guess], n, alpha)
  certified = p_lower >= 0.5
  radii = np.where(certified, sigma * stats.norm.ppf(p_lower), 0.0)
  return np.where(certified, guess, ABSTAIN), radii


def predict(logits_fn: LogitsFn, x, *, sigma: float, n: int = 100_000, alpha: float = 0.001,
            batch_size: int = 1000, rng) -> np.ndarray:
  """The smoothed classifier's class at each example of `x`, or ABSTAIN.

  The reference's test (Hung & Fithian 2019): the top class of n noisy predictions, unless
  the two-sided binomial test of its count against the runner-up's (p = 1/2) has a p-value
  above alpha. A class returned is g(x) with probability at least 1 - alpha. `rng`: a key,
  or one key per example.
  """
  check_args(sigma=sigma, n=n, alpha=alpha, batch_size=batch_size)
  counts = class_counts(logits_fn, x, sigma=sigma, n=n, batch_size=batch_size, rng=rng)
  top2 = np.argsort(-counts, axis=-1, kind="stable")[:, :2]
  first, second = np.take_along_axis(counts, top2, -1).T
  p_values = np.array([stats.binomtest(int(a), int(a + b), 0.5).pvalue
                       for a, b in zip(first, second)])
  return np.where(p_values > alpha, ABSTAIN, top2[:, 0])


def certified_accuracy(classes, radii, labels, at) -> np.ndarray:
  """The share of examples whose certified class is the label at a radius >= each of `at`
  (abstentions count as wrong): at radius 0, the smoothed classifier's accuracy."""
  right = np.asarray(classes) == np.asarray(labels)
  return np.array([np.mean(right & (np.asarray(radii) >= r)) for r in np.asarray(at)])
