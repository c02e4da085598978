"""The same lecture workloads in Keras (TensorFlow backend) and PyTorch, for `run.py --compare`.

The models match gan_lab's layer for layer: the seed CNN (the TensorFlow CNN tutorial's,
trained with Adam 1e-3 on CIFAR-shaped batches, and evaluated under `torch.inference_mode`),
the lecture's dense SELU GAN (batch 32, RMSprop, two `train_on_batch` calls per step in
Keras, as the lecture writes it) and the DCGAN of `gan_lab.models.dcgan` (PyTorch; Adam,
BCE). FGSM is Foolbox's and torchattacks' on the PyTorch seed CNN, PGD-10 torchattacks'
(eps 8/255, step 2/255, a random start, as gan_lab's `attacks.pgd`). Each is timed like
run.py's workloads: a warm-up call, then the median of repeated calls of `steps` training
steps (or one attack or forward pass).
"""

import os
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

DEFAULT_BATCH = {"seed_cnn_train": 256, "seed_cnn_eval": 1000, "dense_gan_step": 32,
                 "dcgan_step": 64, "fgsm": 256, "pgd10": 256}
# Workloads timed as one call, not `steps` training steps.
SINGLE_CALL = ("seed_cnn_eval", "fgsm", "pgd10")


def _time(call, images: int, repeats: int) -> dict:
  t0 = time.perf_counter()
  call()
  compile_s = time.perf_counter() - t0
  times = []
  for _ in range(repeats):
    t0 = time.perf_counter()
    call()
    times.append(time.perf_counter() - t0)
  return {"images_per_sec": round(images / float(np.median(times)), 1),
          "compile_s": round(compile_s, 2)}


def _data(batch, shape, steps, seed=0):
  rng = np.random.default_rng(seed)
  x = rng.integers(0, 256, (steps * batch, *shape)).astype(np.float32) / 255.0
  return x, rng.integers(0, 10, steps * batch).astype(np.int64)


def keras_seed_cnn(batch, steps, repeats):
  import keras  # pylint: disable=g-import-not-at-top
  model = keras.Sequential([
      keras.Input((32, 32, 3)),
      keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
      keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.MaxPooling2D(),
      keras.layers.Conv2D(64, 3, activation="relu"), keras.layers.Flatten(),
      keras.layers.Dense(64, activation="relu"), keras.layers.Dense(10)])
  model.compile(optimizer=keras.optimizers.Adam(1e-3),
                loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
  x, y = _data(batch, (32, 32, 3), steps)
  call = lambda: model.fit(x, y, batch_size=batch, epochs=1, shuffle=False, verbose=0)
  return _time(call, batch * steps, repeats)


def keras_dense_gan(batch, steps, repeats):
  import keras  # pylint: disable=g-import-not-at-top
  generator = keras.Sequential([
      keras.Input((30,)), keras.layers.Dense(100, activation="selu"),
      keras.layers.Dense(150, activation="selu"), keras.layers.Dense(784, activation="sigmoid"),
      keras.layers.Reshape((28, 28))])
  discriminator = keras.Sequential([
      keras.Input((28, 28)), keras.layers.Flatten(), keras.layers.Dense(150, activation="selu"),
      keras.layers.Dense(100, activation="selu"), keras.layers.Dense(1, activation="sigmoid")])
  model = keras.Sequential([generator, discriminator])
  discriminator.compile(loss="binary_crossentropy", optimizer="rmsprop")
  discriminator.trainable = False
  model.compile(loss="binary_crossentropy", optimizer="rmsprop")
  real = _data(batch, (28, 28), steps)[0].reshape(steps, batch, 28, 28)
  labels_d = np.array([[0.0]] * batch + [[1.0]] * batch, np.float32)
  labels_g = np.ones((batch, 1), np.float32)
  rng = np.random.default_rng(0)

  def call():  # The lecture's loop: phase 1 on D, phase 2 on the stacked GAN.
    for i in range(steps):
      fake = generator(rng.normal(size=(batch, 30)).astype(np.float32))
      discriminator.trainable = True
      discriminator.train_on_batch(np.concatenate([np.asarray(fake), real[i]]), labels_d)
      discriminator.trainable = False
      model.train_on_batch(rng.normal(size=(batch, 30)).astype(np.float32), labels_g)

  return _time(call, batch * steps, repeats)


def _torch_seed_cnn():
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  return nn.Sequential(
      nn.Conv2d(3, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
      nn.MaxPool2d(2), nn.Conv2d(64, 64, 3), nn.ReLU(), nn.Flatten(), nn.Linear(1024, 64),
      nn.ReLU(), nn.Linear(64, 10)), torch


def torch_seed_cnn(batch, steps, repeats):
  model, torch = _torch_seed_cnn()
  opt = torch.optim.Adam(model.parameters(), 1e-3)
  x, y = _data(batch, (32, 32, 3), steps)
  x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()).reshape(steps, batch, 3, 32, 32)
  y = torch.from_numpy(y).reshape(steps, batch)
  loss_fn = torch.nn.CrossEntropyLoss()

  def call():
    for i in range(steps):
      opt.zero_grad()
      loss_fn(model(x[i]), y[i]).backward()
      opt.step()

  return _time(call, batch * steps, repeats)


def torch_dense_gan(batch, steps, repeats):
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  generator = nn.Sequential(nn.Linear(30, 100), nn.SELU(), nn.Linear(100, 150), nn.SELU(),
                            nn.Linear(150, 784), nn.Sigmoid())
  discriminator = nn.Sequential(nn.Linear(784, 150), nn.SELU(), nn.Linear(150, 100),
                                nn.SELU(), nn.Linear(100, 1))
  opt_g = torch.optim.RMSprop(generator.parameters(), 1e-3, alpha=0.9, eps=1e-7)
  opt_d = torch.optim.RMSprop(discriminator.parameters(), 1e-3, alpha=0.9, eps=1e-7)
  bce = nn.BCEWithLogitsLoss()
  real = torch.from_numpy(_data(batch, (784,), steps)[0]).reshape(steps, batch, 784)
  ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)

  def call():
    for i in range(steps):
      fake = generator(torch.randn(batch, 30)).detach()
      opt_d.zero_grad()
      (bce(discriminator(real[i]), ones) + bce(discriminator(fake), zeros)).backward()
      opt_d.step()
      opt_g.zero_grad()
      bce(discriminator(generator(torch.randn(batch, 30))), ones).backward()
      opt_g.step()

  return _time(call, batch * steps, repeats)


def torch_seed_cnn_eval(batch, steps, repeats):
  del steps
  model, torch = _torch_seed_cnn()
  model.eval()
  x = torch.from_numpy(_data(batch, (3, 32, 32), 1)[0])

  def call():
    with torch.inference_mode():
      model(x)

  return _time(call, batch, repeats)


def torch_dcgan(batch, steps, repeats):
  """gan_lab's DCGAN for 28x28x1 (features (128, 64) and (64, 128), codings 100): the
  two-phase step with Adam 2e-4, b1 0.5, and the non-saturating BCE loss."""
  import torch  # pylint: disable=g-import-not-at-top
  from torch import nn  # pylint: disable=g-import-not-at-top
  generator = nn.Sequential(
      nn.Linear(100, 7 * 7 * 128, bias=False), nn.Unflatten(1, (128, 7, 7)),
      nn.BatchNorm2d(128, momentum=0.1), nn.ReLU(),
      nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(),
      nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh())
  discriminator = nn.Sequential(
      nn.Conv2d(1, 64, 4, 2, 1), nn.LeakyReLU(0.2),
      nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2),
      nn.Flatten(), nn.Linear(128 * 7 * 7, 1))
  opt_g = torch.optim.Adam(generator.parameters(), 2e-4, betas=(0.5, 0.999))
  opt_d = torch.optim.Adam(discriminator.parameters(), 2e-4, betas=(0.5, 0.999))
  bce = nn.BCEWithLogitsLoss()
  real = torch.from_numpy(_data(batch, (1, 28, 28), steps)[0]).reshape(steps, batch, 1, 28, 28)
  ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
  sample = lambda: (generator(torch.randn(batch, 100)) + 1) / 2

  def call():
    for i in range(steps):
      fake = sample().detach()
      opt_d.zero_grad()
      (bce(discriminator(real[i]), ones) + bce(discriminator(fake), zeros)).backward()
      opt_d.step()
      opt_g.zero_grad()
      bce(discriminator(sample()), ones).backward()
      opt_g.step()

  return _time(call, batch * steps, repeats)


def _torch_attack(make_attack, batch, repeats):
  model, torch = _torch_seed_cnn()
  model.eval()
  x, y = _data(batch, (32, 32, 3), 1)
  x, y = torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), torch.from_numpy(y)
  attack = make_attack(model)
  return _time(lambda: attack(x, y), batch, repeats)


def torchattacks_fgsm(batch, steps, repeats):
  del steps
  import torchattacks  # pylint: disable=g-import-not-at-top
  return _torch_attack(lambda m: torchattacks.FGSM(m, eps=8 / 255), batch, repeats)


def torchattacks_pgd10(batch, steps, repeats):
  del steps
  import torchattacks  # pylint: disable=g-import-not-at-top
  return _torch_attack(lambda m: torchattacks.PGD(m, eps=8 / 255, alpha=2 / 255, steps=10,
                                                  random_start=True), batch, repeats)


def foolbox_fgsm(batch, steps, repeats):
  del steps
  import foolbox  # pylint: disable=g-import-not-at-top
  model, torch = _torch_seed_cnn()
  fmodel = foolbox.PyTorchModel(model.eval(), bounds=(0, 1))
  x, y = _data(batch, (32, 32, 3), 1)
  x = torch.from_numpy(x.transpose(0, 3, 1, 2).copy())
  y = torch.from_numpy(y)
  attack = foolbox.attacks.FGSM()
  return _time(lambda: attack(fmodel, x, y, epsilons=8 / 255), batch, repeats)


RUNS = (("seed_cnn_train", "keras", keras_seed_cnn),
        ("seed_cnn_train", "pytorch", torch_seed_cnn),
        ("seed_cnn_eval", "pytorch", torch_seed_cnn_eval),
        ("dense_gan_step", "keras", keras_dense_gan),
        ("dense_gan_step", "pytorch", torch_dense_gan),
        ("dcgan_step", "pytorch", torch_dcgan),
        ("fgsm", "foolbox-pytorch", foolbox_fgsm),
        ("fgsm", "torchattacks", torchattacks_fgsm),
        ("pgd10", "torchattacks", torchattacks_pgd10))


def run(names, batch, steps, repeats) -> list[dict]:
  """The peers of the jax workloads `names`."""
  out = []
  for name, framework, fn in RUNS:
    if name not in names:
      continue
    b = batch or DEFAULT_BATCH[name]
    out.append({"name": name, "framework": framework, "batch": b,
                **fn(b, 1 if name in SINGLE_CALL else steps, repeats)})
  return out


def ratios(records: list[dict]) -> str:
  """Lines `name: jax / other = r` for every workload measured in both (and jax+onednn)."""
  lines = []
  for name in dict.fromkeys(name for name, _, _ in RUNS):
    mine = [r for r in records if r["name"] == name and r["framework"].startswith("jax")]
    for other in (r for r in records if r["name"] == name and not r["framework"].startswith("jax")):
      for ours in mine:
        lines.append(f"{name}: {ours['framework']} {ours['images_per_sec']:.0f} img/s / "
                     f"{other['framework']} {other['images_per_sec']:.0f} img/s = "
                     f"{ours['images_per_sec'] / other['images_per_sec']:.2f}x")
  return "\n".join(lines)
