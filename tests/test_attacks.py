import json
import logging
import os
import shutil

import chex
import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from conftest import load_config_file, run_script, tiny_config
from gan_lab import attacks, data, inference, parallel
from gan_lab.core import cli
from gan_lab.core.config import adversarial_config
from gan_lab.core.errors import UserError
from gan_lab.runs import loop, workdirs, writers
from gan_lab.studies import robustness, tables
from gan_lab.training import adversarial, attack_eval, classifier
from gan_lab.training.state import TrainState

K = 4


@pytest.fixture(scope="module")
def linear():
  """A linear model, whose input gradient is known exactly: W (softmax(xW + b) - onehot(y))."""
  rng = np.random.default_rng(0)
  w = jnp.asarray(rng.normal(size=(12, K)), jnp.float32)
  b = jnp.asarray(rng.normal(size=K), jnp.float32)
  fn = lambda x: x.reshape(len(x), -1) @ w + b
  x = jnp.asarray(rng.uniform(0.2, 0.8, size=(6, 2, 2, 3)), jnp.float32)
  y = jnp.asarray(rng.integers(0, K, 6))

  def grad(x, y):
    p = jax.nn.softmax(fn(x))
    return ((p - jax.nn.one_hot(y, K)) @ w.T).reshape(x.shape)

  return fn, x, y, grad


def test_fgsm_is_one_signed_gradient_step(linear):
  fn, x, y, grad = linear
  eps = 0.05
  np.testing.assert_allclose(attacks.fgsm(fn, x, y, eps), x + eps * np.sign(grad(x, y)),
                             atol=1e-6)
  # Targeted: down the gradient of the target's cross-entropy.
  t = (y + 1) % K
  np.testing.assert_allclose(attacks.fgsm(fn, x, t, eps, targeted=True),
                             x - eps * np.sign(grad(x, t)), atol=1e-6)
  # No labels: the model's own predictions.
  pred = jnp.argmax(fn(x), -1)
  np.testing.assert_array_equal(attacks.fgsm(fn, x, None, eps), attacks.fgsm(fn, x, pred, eps))
  # L2: a step of length eps per example along the gradient.
  x_l2 = attacks.fgsm(fn, x, y, eps, norm="l2")
  g = np.asarray(grad(x, y)).reshape(6, -1)
  np.testing.assert_allclose(np.asarray(x_l2 - x).reshape(6, -1),
                             eps * g / np.linalg.norm(g, axis=1, keepdims=True), atol=1e-6)
  # Clipped to the bounds.
  big = attacks.fgsm(fn, x, y, 0.5)
  assert float(big.min()) >= 0.0 and float(big.max()) <= 1.0


def test_steps_move_the_losses_the_right_way(linear):
  fn, x, y, _ = linear
  ce = lambda x, y: np.asarray(optax.softmax_cross_entropy_with_integer_labels(fn(x), y))
  t = (y + 2) % K
  assert np.all(ce(attacks.fgsm(fn, x, y, 0.01), y) > ce(x, y))
  assert np.all(ce(attacks.fgsm(fn, x, t, 0.01, targeted=True), t) < ce(x, t))
  assert np.all(ce(attacks.pgd(fn, x, y, 0.05, num_steps=5), y) > ce(attacks.fgsm(
      fn, x, y, 0.01), y))
  assert np.all(ce(attacks.pgd(fn, x, t, 0.05, num_steps=5, targeted=True), t) < ce(x, t))


def test_attacks_under_jit_equal_eager(linear):
  fn, x, y, _ = linear
  key = jax.random.key(3)
  for attack in (lambda x: attacks.fgsm(fn, x, y, 0.05),
                 lambda x: attacks.fgsm(fn, x, y, 0.05, norm="l2"),
                 lambda x: attacks.pgd(fn, x, y, 0.05, num_steps=4, rng=key),
                 lambda x: attacks.random_noise(x, 0.05, key)):
    np.testing.assert_allclose(jax.jit(attack)(x), attack(x), rtol=1e-6, atol=1e-6)


def test_attacks_jit_and_vmap(linear):
  fn, x, y, _ = linear
  eps = jnp.array([0.0, 0.01, 0.1])
  out = jax.jit(jax.vmap(lambda e: attacks.fgsm(fn, x, y, e)))(eps)
  np.testing.assert_allclose(out[1], attacks.fgsm(fn, x, y, 0.01), atol=1e-6)
  np.testing.assert_allclose(out[0], x)
  pgd = jax.jit(lambda x, k: attacks.pgd(fn, x, y, 0.1, num_steps=3, rng=k))
  assert pgd(x, jax.random.key(0)).shape == x.shape


def test_pgd_iterates_stay_in_the_ball_and_bounds(linear):
  fn, x, y, _ = linear
  eps = 0.3  # Larger than the distance to the bounds for some pixels: both constraints bind.
  for steps in (1, 2, 5):
    for rng in (None, jax.random.key(1)):
      x_adv = attacks.pgd(fn, x, y, eps, step_size=0.2, num_steps=steps, rng=rng)
      assert float(jnp.max(jnp.abs(x_adv - x))) <= eps + 1e-6
      assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
  # Without a random start, one step of size eps is FGSM (BIM's first step).
  np.testing.assert_allclose(attacks.pgd(fn, x, y, 0.05, step_size=0.05, num_steps=1),
                             attacks.fgsm(fn, x, y, 0.05), atol=1e-6)
  a = attacks.pgd(fn, x, y, 0.1, num_steps=2, rng=jax.random.key(1))
  b = attacks.pgd(fn, x, y, 0.1, num_steps=2, rng=jax.random.key(2))
  assert not np.allclose(a, b)


def test_noise_has_the_same_linf_size_and_per_example_keys():
  x = jnp.full((16, 4, 4, 1), 0.5)
  noisy = attacks.random_noise(x, 0.1, jax.random.key(0))
  np.testing.assert_allclose(np.abs(noisy - x), 0.1, atol=1e-6)
  assert 0.3 < float(jnp.mean(noisy > x)) < 0.7
  # Example i's noise depends on its index only, not on the batch it came in.
  np.testing.assert_array_equal(attacks.random_noise(x[:8], 0.1, jax.random.key(0)), noisy[:8])


def test_trades_perturbation_stays_in_the_ball_and_raises_the_kl(linear):
  fn, x, _, _ = linear
  eps, key = 0.3, jax.random.key(1)  # Both the ball and the bounds bind for some pixels.
  x_adv = attacks.trades_perturbation(fn, x, eps, key, step_size=0.05, num_steps=5)
  assert float(jnp.max(jnp.abs(x_adv - x))) <= eps + 1e-6
  assert float(x_adv.min()) >= 0.0 and float(x_adv.max()) <= 1.0
  # Far from the reference's start, x + 0.001 * N(0, 1) with the same per-example keys.
  keys = parallel.example_keys(key, len(x), None)
  start = x + 0.001 * jax.vmap(lambda k: jax.random.normal(k, x.shape[1:]))(keys)
  kl = lambda x_: np.asarray(attacks.kl_from_logits(fn(x), fn(x_)))
  assert np.all(kl(x_adv) > 100 * kl(start))
  # Example i's start depends on its key only: the last three with their own keys, as on a
  # second device.
  np.testing.assert_allclose(attacks.trades_perturbation(
      fn, x[3:], eps, keys[3:], step_size=0.05, num_steps=5), x_adv[3:], atol=1e-6)
  with pytest.raises(UserError, match="eps must be >= 0"):
    attacks.trades_perturbation(fn, x, -0.1, key)
  with pytest.raises(UserError, match="num_steps must be >= 1; got 0"):
    attacks.trades_perturbation(fn, x, eps, key, num_steps=0)


@pytest.mark.parametrize("kwargs,match", [
    ({"eps": -0.1}, "eps must be >= 0"),
    ({"bounds": (1.0, 0.0)}, "bounds must have min < max"),
    ({"x_scale": 255.0}, r"outside bounds \(0.0, 1.0\); scale them"),
    ({"y_shift": K}, r"Labels must be in \[0, 4\)"),
    ({"norm": "l1"}, "Unknown norm 'l1'"),
])
def test_bad_attack_arguments_are_one_sentence(linear, kwargs, match):
  fn, x, y, _ = linear
  x = x * kwargs.pop("x_scale", 1.0)
  y = y + kwargs.pop("y_shift", 0)
  with pytest.raises(UserError, match=match):
    attacks.fgsm(fn, x, y, **{"eps": 0.1, **kwargs})


def test_robustness_on_a_trained_classifier(classifier_run):
  _, state = classifier_run
  test = data.load("mnist5k", "test")
  test = {k: v[:300] for k, v in test.items()}
  spec = attacks.AttackSpec(pgd_steps=5)
  r0, r1, r2 = attack_eval.evaluate(state, test, [0.0, 0.1, 0.3], spec, batch_size=100)
  clean = float(np.mean(np.argmax(inference.logits_fn(state)(inference.to_float(
      test["image"])), -1) == test["label"]))
  assert r0["accuracy_clean"] == pytest.approx(clean)
  assert all(r0[f"accuracy_{a}"] == pytest.approx(clean) for a in attacks.DEFAULT_ATTACKS)
  for r in (r1, r2):
    assert r["accuracy_pgd"] <= r["accuracy_fgsm"] <= r["accuracy_clean"]
    assert r["robust_accuracy"] <= min(r[f"accuracy_{a}"] for a in attacks.DEFAULT_ATTACKS)
    assert r["accuracy_noise"] > r["accuracy_fgsm"]
  assert r2["accuracy_pgd"] < 0.05 < r1["accuracy_pgd"]
  assert attacks.sanity_checks([r0, r1, r2]) == []
  # The batch size does not change the numbers (randomness is keyed by example index).
  again = attack_eval.evaluate(state, test, [0.1], spec, batch_size=60)[0]
  assert again == pytest.approx(r1)
  # Targeted at class 3: the success rate counts only examples of other classes.
  spec = attacks.AttackSpec(attacks=("fgsm", "pgd"), targeted=True, target_class=3)
  (t,) = attack_eval.evaluate(state, test, [0.3], spec, batch_size=100)
  assert t["success_pgd"] > 0.5 and t["success_pgd"] >= t["success_fgsm"]


def test_sanity_checks_flag_gradient_masking():
  masked = [{"eps": 0.1, "accuracy_clean": 0.9, "accuracy_fgsm": 0.5, "accuracy_pgd": 0.7,
             "accuracy_apgd-ce": 0.75},
            {"eps": 0.3, "accuracy_clean": 0.9, "accuracy_fgsm": 0.6, "accuracy_pgd": 0.8}]
  warnings = attacks.sanity_checks(masked)
  expected = ["PGD is weaker than FGSM at eps 0.1", "PGD is weaker than FGSM at eps 0.3",
              "More steps did worse at eps 0.1: APGD-CE's accuracy 0.750 is above PGD's 0.700",
              "Accuracy under fgsm rises with eps, from 0.500 at eps 0.1 to 0.600 at eps 0.3",
              "Accuracy under pgd rises with eps, from 0.700 at eps 0.1 to 0.800 at eps 0.3",
              "Accuracy under PGD is still 0.800 at eps 0.3"]
  assert len(warnings) == len(expected)
  for sentence in expected:
    assert any(w.startswith(sentence) for w in warnings), sentence
  healthy = [{"eps": 0.1, "accuracy_clean": 0.9, "accuracy_fgsm": 0.5, "accuracy_pgd": 0.4},
             {"eps": 0.3, "accuracy_clean": 0.9, "accuracy_fgsm": 0.1, "accuracy_pgd": 0.0}]
  assert attacks.sanity_checks(healthy) == []


class _Rounded(nn.Module):
  """Logits of the input rounded to 4 grey levels: the gradient is exactly 0 everywhere."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    x = jax.lax.stop_gradient(jnp.round(x * 3) / 3)
    return nn.Dense(10)(x.reshape(len(x), -1))


class _Periodic(nn.Module):
  """Two classes by the phase of the mean pixel: cos(2 pi mean / 0.2) > 0 is class 1. FGSM
  moves the mean by up to eps (less where pixels hit 0 or 1), so at eps 0.2, a whole period,
  it comes back near where it started."""

  @nn.compact
  def __call__(self, x, train: bool = False):
    del train
    self.param("unused", nn.initializers.zeros, ())
    m = jnp.cos(2 * jnp.pi * jnp.mean(x, axis=(1, 2, 3)) / 0.2)
    return jnp.stack([-m, m], -1)


def _relabelled(module, images):
  """A state of `module` and a split labelled with its own clean predictions (all right)."""
  variables = module.init(jax.random.key(0), images[:1])
  state = TrainState.of(module, variables, optax.sgd(0.0))
  labels = np.asarray(jnp.argmax(inference.logits_fn(state)(inference.to_float(images)), -1))
  return state, {"image": images, "label": labels.astype(np.int32)}


def test_masking_checks_fire_on_models_built_to_mask():
  images = data.load("mnist5k", "test")["image"][:64]
  # Rounded inputs: no gradient at all, and only the black-box attack moves anything.
  state, split = _relabelled(_Rounded(), images)
  spec = attacks.AttackSpec(attacks=("fgsm", "pgd", "square"), pgd_steps=3, square_queries=200,
                            random_start=False)
  (r,) = attack_eval.evaluate(state, split, [0.3], spec, batch_size=64)
  assert r["zero_gradient_share"] == 1.0 and r["accuracy_pgd"] == 1.0
  assert r["accuracy_square"] < 0.9
  warnings = attacks.sanity_checks([r])
  assert any("input gradient is exactly zero at 100.0%" in w for w in warnings)
  assert any(w.startswith("The black-box Square beats every white-box attack") for w in warnings)
  # The periodic model: FGSM's accuracy comes back as eps grows past half a period.
  state, split = _relabelled(_Periodic(), images)
  results = attack_eval.evaluate(state, split, [0.1, 0.2], attacks.AttackSpec(
      attacks=("fgsm",)), batch_size=64, num_classes=2)
  assert results[1]["accuracy_fgsm"] > results[0]["accuracy_fgsm"] + 0.3  # 0.78 vs 0.34.
  assert any(w.startswith("Accuracy under fgsm rises with eps") for w in
             attacks.sanity_checks(results))


def test_attack_script_writes_results_and_refuses_bad_input(classifier_run, tmp_path):
  workdir, _ = classifier_run
  # A copy whose config asks for twice the steps it has: a run that was cut short.
  short = tmp_path / "short"
  shutil.copytree(workdir, short, ignore=shutil.ignore_patterns(".lock"))
  config = json.loads((short / "config.json").read_text())
  config["num_steps"] *= 2
  (short / "config.json").write_text(json.dumps(config))
  out = run_script("attack.py", "--workdir=short", "--eps=0,0.2", "--pgd_steps=3", "--out=a",
                   cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-2000:]
  # Said in the printed output, not only in the JSON; paths printed are absolute.
  cut = (f"{short} stopped at step {config['num_steps'] // 2} of {config['num_steps']}: what "
         "follows is for a model trained part of the way")
  assert f"warning: {cut}" in out.stdout and cut in out.stderr
  assert f"Wrote {tmp_path}/a/attack_results.json" in out.stdout
  with open(tmp_path / "a" / "attack_results.json") as f:
    assert any(w.startswith(cut) for w in json.load(f)["warnings"])
  with open(tmp_path / "a" / "attack_results.json") as f:
    results = json.load(f)["results"]
  # The results table is printed as well, and progress is logged per eps.
  assert "| model | eps | accuracy_clean | accuracy_noise | accuracy_fgsm | accuracy_pgd |" in (
      out.stdout)
  assert f"| model | 0.2 | {results[1]['accuracy_clean']:.3g} |" in out.stdout
  assert "at eps 0.2 (2 of 2" in out.stderr
  assert [r["eps"] for r in results] == [0.0, 0.2]
  assert results[1]["accuracy_pgd"] < results[0]["accuracy_pgd"]
  assert {"accuracy_vs_eps.png", "panda.png"} <= set(os.listdir(tmp_path / "a"))
  again = run_script("attack.py", f"--workdir={workdir}", "--eps=0.1", f"--out={tmp_path / 'a'}")
  assert again.returncode == 2
  assert "attack_results.json exists; choose another --out" in again.stderr
  for flag, message in [("--eps=-0.1", "eps must be >= 0"),
                        ("--eps=0.1,1.5", "--eps 1.5 is more than the whole [0, 1] pixel range"),
                        ("--targeted --target_class=12", "target_class must be in [0, 10)")]:
    bad = run_script("attack.py", f"--workdir={workdir}", *flag.split(),
                     f"--out={tmp_path / 'bad'}")
    assert bad.returncode == 2 and message in bad.stderr.strip().splitlines()[-1], bad.stderr
  assert not os.path.exists(tmp_path / "bad")
  with pytest.raises(UserError, match="Unknown attack 'cw'"):
    attacks.AttackSpec(attacks=("cw",))
  with pytest.raises(UserError, match="--eps takes numbers separated by commas; got x"):
    cli.floats("--eps", ["x"])
  with pytest.raises(UserError, match="--models takes name=workdir items"):
    cli.named_paths("--models", ["runs/a"])
  with pytest.raises(UserError, match="--eps needs at least one number"):
    cli.floats("--eps", [])
  with pytest.raises(UserError, match="target_class is set but the attack is not targeted"):
    robustness.attack_workdir(workdir, [0.1], attacks.AttackSpec(target_class=3),
                              out=str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad")


def test_a_gan_workdir_is_not_a_classifier(tmp_path):
  workdirs.prepare(str(tmp_path), load_config_file("dense_gan_mnist5k"))
  with pytest.raises(UserError, match="holds a 'gan' run, not a classifier"):
    robustness.attack_workdir(str(tmp_path), [0.1])


def adv_config(**adv):
  config = adversarial_config()
  config.update(tiny_config().to_dict())
  config.experiment = "adversarial"
  config.adv.update(adv)
  return config


def test_adversarial_step_with_alpha_one_is_the_clean_step():
  config = adv_config(method="fgsm", alpha=1.0, eps=0.1)
  state = adversarial.init_state(config, jax.random.key(0), 10)
  batch = {k: v[:32] for k, v in data.load("mnist5k", "train").items()}
  rng = jax.random.key(1)
  adv_state, adv_metrics = jax.jit(adversarial.make_train_step(config))(state, batch, rng)
  ref_state, ref_metrics = jax.jit(classifier.make_train_step(config))(state, batch, rng)
  assert float(adv_metrics["loss"]) == pytest.approx(float(ref_metrics["loss"]), rel=1e-5)
  chex.assert_trees_all_close(adv_state.params, ref_state.params, rtol=1e-4, atol=1e-6)
  # alpha 0.5: half the attacked loss, which is larger than the clean one.
  config = adv_config(method="fgsm", alpha=0.5, eps=0.2)
  _, mixed = jax.jit(adversarial.make_train_step(config))(state, batch, rng)
  assert float(mixed["loss"]) > float(ref_metrics["loss"])
  assert float(mixed["adv_accuracy"]) < float(mixed["accuracy"])


def test_adversarial_training_run_logs_robust_accuracy(tmp_path):
  config = adv_config(method="pgd", eps=0.1, pgd_steps=2, eval_pgd_steps=2)
  config.update(num_steps=8, log_every=4)
  state = loop.train_and_evaluate(config, str(tmp_path))
  last = writers.read_metrics(str(tmp_path))[-1]
  assert last["test_robust_accuracy"] <= last["test_accuracy_pgd"] <= last["test_accuracy"]
  # The logged robust accuracy is the evaluation's own, on the final state.
  (expected,) = attack_eval.evaluate(state, data.load("mnist5k", "test"), [0.1],
                                     attacks.AttackSpec(pgd_steps=2), seed=config.seed)
  assert last["test_robust_accuracy"] == pytest.approx(expected["robust_accuracy"], abs=1e-6)
  with pytest.raises(UserError, match="Unknown config.adv.method 'cw'"):
    loop.train_and_evaluate(adv_config(method="cw"), str(tmp_path / "bad"))
  with pytest.raises(UserError, match=r"config.adv.eps 2.0 is more than the whole \[0, 1\] "
                                      "pixel range"):
    loop.train_and_evaluate(adv_config(eps=2.0), str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad")


def _trades_inputs(config, state):
  """A training batch, its TRADES examples and the two interleaved, as the step has them."""
  train = data.load("mnist5k", "train")
  x, y = inference.to_float(train["image"][:32]), train["label"][:32]
  x_adv = adversarial.perturb(config, state, x, y, jax.random.key(2))
  return x, y, x_adv, jnp.stack([x, x_adv], axis=1).reshape(64, *x.shape[1:])


def test_trades_step_with_beta_zero_is_the_clean_step():
  config = adv_config(method="trades", beta=0.0, eps=0.1, pgd_steps=2)
  state = adversarial.init_state(config, jax.random.key(0), 10)
  x, y, _, both = _trades_inputs(config, state)
  _, _, _, grads = classifier.update(state, both, adversarial.trades_loss(y, 0.0), None)
  _, _, _, clean_grads = classifier.update(state, x, classifier.cross_entropy(y), None)
  chex.assert_trees_all_close(grads, clean_grads, rtol=1e-4, atol=1e-6)
  # The whole step, attack included, against the classifier's.
  batch = {k: v[:32] for k, v in data.load("mnist5k", "train").items()}
  rng = jax.random.key(1)
  got_state, got = jax.jit(adversarial.make_train_step(config))(state, batch, rng)
  ref_state, ref = jax.jit(classifier.make_train_step(config))(state, batch, rng)
  for k in ("loss", "accuracy", "grad_norm"):
    assert float(got[k]) == pytest.approx(float(ref[k]), rel=1e-5), k
  chex.assert_trees_all_close(got_state.params, ref_state.params, rtol=1e-4, atol=1e-6)


def test_trades_loss_is_ce_plus_beta_kl_through_both_passes():
  """Against the reference's formula, with separate passes (the model has no dropout or
  BatchNorm); its clean distribution is not held constant, and the test can tell."""
  config = adv_config(method="trades", eps=0.1, pgd_steps=2)
  state = adversarial.init_state(config, jax.random.key(0), 10)
  x, y, x_adv, both = _trades_inputs(config, state)

  def reference(params, hold_clean=False):
    f = lambda x: state.apply_fn({"params": params}, x, train=True)
    clean = f(x)
    target = jax.lax.stop_gradient(clean) if hold_clean else clean
    return (optax.softmax_cross_entropy_with_integer_labels(clean, y).mean()
            + 6.0 * attacks.kl_from_logits(target, f(x_adv)).mean())

  _, logits, loss, grads = classifier.update(state, both, adversarial.trades_loss(y, 6.0),
                                             None)
  want_loss, want = jax.value_and_grad(reference)(state.params)
  assert float(loss) == pytest.approx(float(want_loss), rel=1e-5)
  assert float(loss) > float(optax.softmax_cross_entropy_with_integer_labels(
      logits[0::2], y).mean()) + 1e-4  # The KL term is there.
  chex.assert_trees_all_close(grads, want, rtol=1e-4, atol=1e-6)
  held = jax.grad(reference)(state.params, hold_clean=True)
  with pytest.raises(AssertionError):
    chex.assert_trees_all_close(grads, held, rtol=1e-4, atol=1e-6)


def test_trades_training_run_logs_robust_accuracy_and_refuses_a_bad_beta(tmp_path, caplog):
  config = adv_config(method="trades", eps=0.1, pgd_steps=2, eval_pgd_steps=2)
  config.update(num_steps=8, log_every=4)
  loop.train_and_evaluate(config, str(tmp_path))
  logged = writers.read_metrics(str(tmp_path))
  assert [m["step"] for m in logged] == [4, 8]
  assert all(np.isfinite(m["train_loss"]) and 0 <= m["train_adv_accuracy"] <= 1 for m in logged)
  last = logged[-1]
  assert last["test_robust_accuracy"] <= last["test_accuracy_pgd"] <= last["test_accuracy"]
  with pytest.raises(UserError, match=r"^config.adv.beta, the weight of TRADES' KL term, must "
                                      r"be >= 0; got -1.0.$"):
    loop.train_and_evaluate(adv_config(method="trades", beta=-1.0), str(tmp_path / "bad"))
  assert not os.path.exists(tmp_path / "bad")
  # alpha weighs the other methods' mix; trades ignores it, and says so.
  with caplog.at_level(logging.WARNING):
    adversarial.make_train_step(adv_config(method="trades", alpha=0.0))
  assert "config.adv.alpha 0.0 is not used by method trades" in caplog.text


def test_transfer_script_prints_its_table_and_absolute_paths(classifier_run, tmp_path):
  workdir, _ = classifier_run
  out = run_script("transfer.py", f"--target={workdir}", f"--surrogates=same={workdir}",
                   "--attack=fgsm", "--eps=0.1", "--out=t", cwd=tmp_path)
  assert out.returncode == 0, out.stderr[-2000:]
  assert f"Wrote {tmp_path}/t/transfer.md and {tmp_path}/t/transfer.png" in out.stdout
  # Progress per crafting model and per eps (long evaluations say how far they are).
  assert "examples crafted on same (2 of 2)." in out.stderr and "at eps 0.1 (1 of 1" in out.stderr
  rows = workdirs.read_json(str(tmp_path / "t" / "transfer.json"))["rows"]
  # Crafted on the target itself or on a copy of it: the same attack, the same numbers.
  assert rows["same"] == rows["white-box"]
  assert f"| same | 0.1 | {tables.cell(rows['same'][0]['accuracy_fgsm'])} |" in out.stdout
