"""Auto-PGD (Croce & Hein 2020): PGD with momentum and a step size that halves itself.

As fra31/auto-attack's `APGDAttack` and `APGDAttack_targeted` (its defaults: 100 steps,
momentum 0.75, first step 2 eps, checkpoints at 22% of the steps and then every 3% less,
down to 6%). At each checkpoint, an example whose loss rose in at most 75% of the steps
since the last one, or whose best loss has not moved since a checkpoint that kept its step
size, halves its step and restarts from its best point. Everything is per example: each
has its own step size, best point and first adversarial point, so its result does not
depend on the rest of the batch.

Losses: "ce" (cross-entropy) and "dlr", the Difference of Logits Ratio, which does not care
how the logits are scaled; targeted, DLR against the k-th most likely other class for k = 2
.. num_target_classes + 1, one run each (APGD-T; needs 4 or more classes).
"""

import jax
import jax.numpy as jnp
import numpy as np
import optax

from gan_lab.attacks.base import (NORMS, LogitsFn, check_args, check_norm, direction,
                                  example_keys, labels_or_predictions, project, random_start,
                                  run_while, where_example)
from gan_lab.core.errors import UserError

LOSSES = ("ce", "dlr")
MOMENTUM = 0.75
RHO = 0.75  # A checkpoint halves the step if the loss rose in at most this share of steps.


def checkpoints(num_steps: int) -> np.ndarray:
  """The window length at each step that ends one (0 elsewhere): the paper's schedule."""
  window, shrink, minimum = (max(int(f * num_steps), 1) for f in (0.22, 0.03, 0.06))
  out, i = np.zeros(num_steps, np.int32), window - 1
  while i < num_steps:
    out[i] = window
    window = max(window - shrink, minimum)
    i += window
  return out


def dlr_loss(logits, y, target=None):
  """-(z_y - max_{i != y} z_i) / (z_1 - z_3): large when the true class loses; targeted,
  -(z_y - z_target) / (z_1 - (z_3 + z_4) / 2). z_k is the k-th largest logit."""
  top = jax.lax.top_k(logits, 4)[0]
  z_y = jnp.take_along_axis(logits, y[:, None], -1)[:, 0]
  if target is None:
    other = jnp.where(jnp.argmax(logits, -1) == y, top[:, 1], top[:, 0])
    return -(z_y - other) / (top[:, 0] - top[:, 2] + 1e-12)
  z_t = jnp.take_along_axis(logits, target[:, None], -1)[:, 0]
  return -(z_y - z_t) / (top[:, 0] - 0.5 * (top[:, 2] + top[:, 3]) + 1e-12)


def _loss_fn(logits_fn, loss: str, y, target):
  """x -> (per-example losses, logits): the sum's gradient is each example's own."""
  def per_example(x):
    logits = logits_fn(x)
    if loss == "ce":
      value = optax.softmax_cross_entropy_with_integer_labels(logits, y)
    else:
      value = dlr_loss(logits, y, target)
    return value.sum(), (value, logits)
  return jax.grad(per_example, has_aux=True)


def _single_run(logits_fn, x, y, eps, keys, *, norm, loss, target, num_steps, bounds, active):
  """One run from a random start: (first adversarial point or best-loss point, fooled)."""
  grad_fn = _loss_fn(logits_fn, loss, y, target)
  windows = jnp.asarray(checkpoints(num_steps))
  x_adv = random_start(x, eps, keys, norm, bounds)
  grad, (value, logits) = grad_fn(x_adv)
  fooled = jnp.argmax(logits, -1) != y
  state = {
      "i": jnp.int32(0), "x_adv": x_adv, "x_old": x_adv, "grad": grad,
      "x_best": x_adv, "grad_best": grad, "loss_best": value,
      "x_found": x_adv, "fooled": fooled, "step": jnp.full(x.shape[:1], 2.0 * eps, x.dtype),
      # Losses of the current window (steps since the last checkpoint) and the checkpoint's.
      "rises": jnp.zeros(x.shape[:1], jnp.int32), "loss_prev": value,
      "best_at_check": value, "reduced": jnp.ones(x.shape[:1], bool)}

  def body(s):
    i = s["i"]
    a = jnp.where(i > 0, MOMENTUM, 1.0)
    step = s["step"].reshape((-1,) + (1,) * (x.ndim - 1))
    z = project(s["x_adv"] + step * direction(s["grad"], norm), x, eps, norm, bounds)
    z = project(s["x_adv"] + a * (z - s["x_adv"]) + (1 - a) * (s["x_adv"] - s["x_old"]), x,
                eps, norm, bounds)
    grad, (value, logits) = grad_fn(z)
    now_fooled = jnp.argmax(logits, -1) != y
    x_found = where_example(now_fooled & ~s["fooled"], z, s["x_found"])
    better = value > s["loss_best"]
    s = {**s, "x_old": s["x_adv"], "x_adv": z, "grad": grad, "x_found": x_found,
         "fooled": s["fooled"] | now_fooled,
         "x_best": where_example(better, z, s["x_best"]),
         "grad_best": where_example(better, grad, s["grad_best"]),
         "loss_best": jnp.where(better, value, s["loss_best"]),
         "rises": s["rises"] + (value > s["loss_prev"]), "loss_prev": value}
    window = windows[i]

    def check(s):
      halve = ((s["rises"] <= window * RHO)
               | (~s["reduced"] & (s["best_at_check"] >= s["loss_best"])))
      return {**s, "step": jnp.where(halve, s["step"] / 2, s["step"]),
              "x_adv": where_example(halve, s["x_best"], s["x_adv"]),
              "grad": where_example(halve, s["grad_best"], s["grad"]),
              "reduced": halve, "best_at_check": s["loss_best"],
              "rises": jnp.zeros_like(s["rises"])}

    s = jax.lax.cond(window > 0, check, lambda s: s, s)
    return {**s, "i": i + 1}

  s = run_while(num_steps, body, state, lambda s: s["i"], lambda s: active & ~s["fooled"])
  return where_example(s["fooled"], s["x_found"], s["x_best"]), s["fooled"]


def apgd(logits_fn: LogitsFn, x, y=None, eps: float = 0.03, *, norm: str = "linf",
         loss: str = "ce", targeted: bool = False, num_steps: int = 100,
         num_restarts: int = 1, num_target_classes: int = 9, rng=None, bounds=(0.0, 1.0),
         axis_name: str | None = None, active=None):
  """Auto-PGD: adversarial images in the `norm` ball of radius `eps` around `x` and in
  `bounds`. An example the attack fools comes back as the first point that fooled it; the
  others as their highest-loss point.

  `y`: the true labels (default: the model's predictions). Untargeted, each of
  `num_restarts` runs starts from its own random point; targeted (APGD-T, DLR loss), one run
  per target: the 2nd, 3rd, ... most likely class of the clean image, `num_target_classes`
  of them. Later runs only matter for examples the earlier ones did not fool. `rng`: a key
  or one key per example (random starts); `active` (bool per example, default all): the
  examples to attack, the others are returned unchanged and cost nothing once every active
  one is fooled (AutoAttack passes the examples still robust).
  """
  check_args(x, eps, bounds, y, logits_fn)
  check_norm(norm)
  if loss not in LOSSES:
    raise UserError(f"Unknown APGD loss {loss!r}; choose one of {', '.join(LOSSES)}.")
  if isinstance(num_steps, int) and num_steps < 1:
    raise UserError(f"num_steps must be >= 1; got {num_steps}.")
  if num_restarts < 1:
    raise UserError(f"num_restarts must be >= 1; got {num_restarts}.")
  clean = jax.lax.stop_gradient(logits_fn(x))
  num_classes = clean.shape[-1]
  if targeted and num_classes < 4:
    raise UserError(f"Targeted DLR needs 4 or more classes; the model has {num_classes}.")
  y = labels_or_predictions(logits_fn, x, y)
  keys = example_keys(jax.random.key(0) if rng is None else rng, x.shape[0], axis_name)
  active = jnp.ones(x.shape[:1], bool) if active is None else active
  # Examples the model already gets wrong count as fooled, as in AutoAttack.
  fooled = jnp.argmax(clean, -1) != y
  if targeted:
    count = min(num_target_classes, num_classes - 1)
    targets = jnp.argsort(-clean, axis=-1)[:, 1:count + 1].T  # [run, example]
  else:
    count, targets = num_restarts, None

  def run(s):
    r = s["r"]
    run_keys = jax.vmap(lambda k: jax.random.fold_in(k, r))(keys)
    x_run, fooled_run = _single_run(
        logits_fn, x, y, eps, run_keys, norm=norm, loss="dlr" if targeted else loss,
        target=None if targets is None else targets[r], num_steps=num_steps, bounds=bounds,
        active=active & ~s["fooled"])
    # The first run's best-loss point stands for examples that no run fools.
    take = active & ~s["fooled"] & (fooled_run | (r == 0))
    return {"r": r + 1, "best": where_example(take, x_run, s["best"]),
            "fooled": s["fooled"] | (active & fooled_run)}

  # One traced run serves every restart and target; runs stop once all are fooled.
  s = jax.lax.while_loop(lambda s: (s["r"] < count) & jnp.any(active & ~s["fooled"]), run,
                         {"r": jnp.int32(0), "best": x, "fooled": fooled})
  best = s["best"]
  return jax.lax.stop_gradient(best)


__all__ = ["LOSSES", "NORMS", "apgd", "checkpoints", "dlr_loss"]
