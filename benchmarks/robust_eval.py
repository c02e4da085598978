"""AutoAttack and its parts on a trained seed CNN, beside torchattacks, in one run.

  pip install -e '.[bench]'
  python experiments/train.py --config=experiments/configs/adv_pgd_mnist5k.py --workdir=runs/adv_pgd
  python benchmarks/robust_eval.py --classifier_workdir=runs/adv_pgd --num_examples=100 \
      [--conv=xla,onednn]

The classifier's weights are copied into the same layers in PyTorch (checked: both give the
same logits up to float32 round-off), and both attack its first `--num_examples` test digits
at `--eps` (L-inf) with the paper's settings: APGD-CE 100 steps; APGD-T and FAB-T 100 steps
for each of 9 targets; Square 5,000 queries, p_init 0.8; AutoAttack's standard version, all
four in turn. torchattacks' own `AutoAttack` class runs its parts
with 10 steps (its APGD, APGDT and FAB default), so the paper's version is built from its
parts with `MultiAttack`, as that class does. A robust model makes both do the whole work:
on a model that every attack breaks at once, gan_lab's early exits would make the ratio a
measure of the data. Each attack: gan_lab's jitted call once to compile (`compile_s`), then
`--repeats` rounds of gan_lab and torchattacks alternating; medians. Robust accuracy from
both is printed too. `--conv` measures gan_lab with each convolution (config.conv) in turn.
Nothing here is asserted by `make test`.
"""

import json
import time

import jax
import jax.numpy as jnp
import numpy as np
from absl import app, flags

from gan_lab import attacks, data, inference
from gan_lab.core.errors import UserError
from gan_lab.models import SeedCNN, conv
from gan_lab.runs import restore
from gan_lab.studies import robustness

ATTACKS = ("apgd-ce", "apgd-t", "fab-t", "square", "autoattack")

_WORKDIR = flags.DEFINE_string("classifier_workdir", None, "A trained SeedCNN run on mnist5k.")
_NUM = flags.DEFINE_integer("num_examples", 100, "Test digits attacked (one batch).")
_EPS = flags.DEFINE_float("eps", 0.1, "L-inf budget in [0, 1] pixel units.")
_REPEATS = flags.DEFINE_integer("repeats", 2, "Timed rounds per attack (median reported).",
                                lower_bound=1)
_ATTACKS = flags.DEFINE_list("attacks", list(ATTACKS), f"Of {', '.join(ATTACKS)}.")
_CONV = flags.DEFINE_list("conv", ["auto"], "gan_lab's convolutions (config.conv), side by side.")


def torch_seed_cnn(params):
  """The SeedCNN on 28x28x1 in PyTorch (NCHW), with the Flax run's weights."""
  import torch  # pylint: disable=g-import-not-at-top  # The [bench] extra.
  from torch import nn  # pylint: disable=g-import-not-at-top
  model = nn.Sequential(
      nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
      nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(576, 64),
      nn.ReLU(), nn.Linear(64, 10))
  convs = [params[f"Conv_{i}"] for i in range(3)]
  dense = [params[f"Dense_{i}"] for i in range(2)]
  to = lambda a: torch.from_numpy(np.ascontiguousarray(np.asarray(a, np.float32)))
  with torch.no_grad():
    for layer, p in zip((model[0], model[3], model[6]), convs):
      layer.weight.copy_(to(np.transpose(p["kernel"], (3, 2, 0, 1))))  # HWIO -> OIHW.
      layer.bias.copy_(to(p["bias"]))
    # Flax flattens 3x3x64 in HWC order, PyTorch in CHW: reorder the first Dense's inputs.
    first = np.asarray(dense[0]["kernel"]).reshape(3, 3, 64, 64).transpose(2, 0, 1, 3)
    model[9].weight.copy_(to(first.reshape(576, 64).T))
    model[9].bias.copy_(to(dense[0]["bias"]))
    model[11].weight.copy_(to(np.asarray(dense[1]["kernel"]).T))
    model[11].bias.copy_(to(dense[1]["bias"]))
  return model.eval(), torch


def torchattacks_attack(name: str, model, eps: float):
  import torchattacks  # pylint: disable=g-import-not-at-top
  apgd = torchattacks.APGD(model, norm="Linf", eps=eps, steps=100, loss="ce", n_restarts=1)
  square = torchattacks.Square(model, norm="Linf", eps=eps, n_queries=5000, p_init=0.8)
  apgd_t = torchattacks.APGDT(model, norm="Linf", eps=eps, steps=100, n_classes=10)
  fab_t = torchattacks.FAB(model, norm="Linf", eps=eps, steps=100, multi_targeted=True,
                           n_classes=10)
  parts = {"apgd-ce": apgd, "apgd-t": apgd_t, "fab-t": fab_t, "square": square}
  return parts.get(name) or torchattacks.MultiAttack(list(parts.values()))


def gan_lab_attack(name: str, fn, eps: float):
  if name == "apgd-ce":
    return jax.jit(lambda x, y: attacks.apgd(fn, x, y, eps, rng=jax.random.key(0)))
  if name == "apgd-t":
    return jax.jit(lambda x, y: attacks.apgd(fn, x, y, eps, targeted=True,
                                             rng=jax.random.key(0)))
  if name == "fab-t":
    return jax.jit(lambda x, y: attacks.fab(fn, x, y, eps))
  if name == "square":
    return jax.jit(lambda x, y: attacks.square(fn, x, y, eps, rng=jax.random.key(0))[0])
  return jax.jit(lambda x, y: attacks.autoattack(fn, x, y, eps, rng=jax.random.key(0))[0])


def _timed(call):
  t0 = time.perf_counter()
  out = call()
  return out, time.perf_counter() - t0


def main(argv):
  del argv
  if not _WORKDIR.value:
    raise app.UsageError("Pass --classifier_workdir, a trained SeedCNN run on mnist5k (e.g. "
                         "runs/adv_pgd from experiments/train.py --config="
                         "experiments/configs/adv_pgd_mnist5k.py).")
  unknown = sorted(set(_ATTACKS.value) - set(ATTACKS))
  if unknown:
    raise app.UsageError(f"Unknown attack {', '.join(unknown)}; choose from {', '.join(ATTACKS)}.")
  try:
    for impl in _CONV.value:
      conv.check_implementation(impl)
    config, state, _ = restore.restore_classifier(_WORKDIR.value)
    if config.model != "SeedCNN" or config.dataset != "mnist5k":
      raise UserError(f"{_WORKDIR.value} holds a {config.model} on {config.dataset}; this "
                      "benchmark ports the SeedCNN on mnist5k to PyTorch.")
    test = robustness.subset(data.load("mnist5k", "test"), _NUM.value)
  except UserError as e:
    raise app.UsageError(str(e)) from None
  x, y = inference.to_float(test["image"]), jnp.asarray(test["label"])
  model, torch = torch_seed_cnn(state.params)
  torch.manual_seed(0)
  tx = torch.from_numpy(np.asarray(x).transpose(0, 3, 1, 2).copy())
  ty = torch.from_numpy(np.asarray(y).astype(np.int64))
  fns = {impl: inference.logits_fn(state.replace(apply_fn=SeedCNN(conv=impl).apply))
         for impl in _CONV.value}
  with torch.no_grad():
    gap = float(np.abs(model(tx).numpy() - np.asarray(fns[_CONV.value[0]](x))).max())
  print(f"logits: PyTorch - gan_lab max |diff| {gap:.2e} on {len(x)} digits; torch threads "
        f"{torch.get_num_threads()}", flush=True)
  for name in _ATTACKS.value:
    theirs = torchattacks_attack(name, model, _EPS.value)
    ours = {impl: gan_lab_attack(name, fn, _EPS.value) for impl, fn in fns.items()}
    compile_s = {impl: _timed(lambda: jax.block_until_ready(f(x, y)))[1]
                 for impl, f in ours.items()}
    times = {"torchattacks": [], **{impl: [] for impl in ours}}
    for _ in range(_REPEATS.value):
      for impl, f in ours.items():
        adv, t = _timed(lambda: jax.block_until_ready(f(x, y)))
        times[impl].append(t)
      adv_t, t = _timed(lambda: theirs(tx, ty))
      times["torchattacks"].append(t)
    with torch.no_grad():
      acc_t = float((model(adv_t).argmax(1) == ty).float().mean())
    acc = float(jnp.mean(jnp.argmax(fns[_CONV.value[-1]](adv), -1) == y))
    med = {k: float(np.median(v)) for k, v in times.items()}
    print(json.dumps({"attack": name, "num_examples": len(x), "eps": _EPS.value,
                      **{f"gan_lab_{impl}_s": round(med[impl], 2) for impl in ours},
                      "torchattacks_s": round(med["torchattacks"], 2),
                      **{f"gan_lab_{impl}_compile_s": round(c, 2) for impl, c in compile_s.items()},
                      "robust_accuracy_gan_lab": round(acc, 4),
                      "robust_accuracy_torchattacks": round(acc_t, 4),
                      **{f"speedup_{impl}": round(med["torchattacks"] / med[impl], 2)
                         for impl in ours}}), flush=True)


if __name__ == "__main__":
  app.run(main)
