"""The whole lecture in one run: every topic on the embedded data, and a report of it.

`run(config, workdir)` takes the lecture's topics in order, each with the library function
its experiment script calls (`cnn_vs_mlp.compare_models`, `loop.train_and_evaluate`,
`robustness.attack_workdir`, `robustness.transfer`, `robustness.compare`,
`vat_comparison.compare`, `poison_sweep.sweep`), so the tour has no code path of its own.
Stage <key> writes its runs into <workdir>/<key>/ and returns a section: a table, figures
with captions that say what they show, and one sentence built from the measured numbers. `studies.report` writes the sections as
report.md, a self-contained report.html and report.json. A stage that fails is reported in one sentence; stages that
need its runs are skipped, the others go on.
"""

import functools
import os
import time
import traceback
from typing import Callable, NamedTuple

import jax
from absl import logging

from gan_lab import attacks, data
from gan_lab.core.errors import UserError
from gan_lab.runs import experiments, loop, workdirs, writers
from gan_lab.studies import (cnn_vs_mlp, gan_difficulties, poison_sweep, report, robustness,
                             tables, vat_comparison)
from gan_lab.training import gan


class Stage(NamedTuple):
  key: str      # The config field with its settings, and its folder in the workdir.
  title: str
  needs: tuple  # Keys of the stages whose runs it uses.
  # (its config, its folder, {run name: workdir} of earlier stages) -> section fields, the
  # figures as {path, caption}.
  run: Callable[..., dict]


def _pick_eps(eps_list, wanted: float) -> float:
  """The budget a section's sentence quotes: `wanted` if measured, else the largest."""
  return wanted if wanted in eps_list else max(eps_list)


def _moves(a: float, b: float) -> str:
  return "raises" if b > a else "lowers" if b < a else "keeps"


def _figure(path: str, caption: str) -> dict:
  return {"path": path, "caption": caption}


def _cnn_vs_mlp(config, out, runs) -> dict:
  result = cnn_vs_mlp.compare_models({"cnn": config.cnn, "mlp": config.mlp}, out)
  runs.update(cnn=result["cnn"]["workdir"], mlp=result["mlp"]["workdir"])
  cnn, mlp = result["cnn"], result["mlp"]
  sentence = (f"The CNN reaches test accuracy {cnn['test_accuracy']:.3f} with "
              f"{cnn['params']:,} parameters, the MLP {mlp['test_accuracy']:.3f} with "
              f"{mlp['params']:,}")
  if cnn["test_accuracy"] > mlp["test_accuracy"] and cnn["params"] < mlp["params"]:
    sentence += ": one kernel shared by every position gets more from fewer weights."
  else:
    sentence += "."
  a = result["lecture_arithmetic"]
  return {"sentence": sentence,
          "columns": ["network", "model", "parameters", "steps", "test accuracy"],
          "rows": [[name, r["model"], r["params"], r["steps"], r["test_accuracy"]]
                   for name, r in (("CNN", cnn), ("MLP", mlp))],
          "notes": [f"The lecture's arithmetic: a 100x100 image into Dense(1000) has "
                    f"{a['dense_params']:,} parameters; a 3x3 conv with 32 filters on it has "
                    f"{a['conv_params']:,}."],
          "figures": [_figure(os.path.join(cnn["workdir"], f), caption) for f, caption in (
              ("curves.png", "The CNN's training: loss, accuracy and gradient norm on the "
               "training batches and on the test split, over steps."),
              ("filters.png", "The CNN's first-layer filters after training."),
              ("feature_maps.png", "The CNN's first conv layer on one test digit: every "
               "feature map it computes."))]}


@functools.lru_cache(maxsize=4)
def _judged_real_images(classifier_workdir: str, dataset: str, data_dir, num: int):
  """(quality of `num` real training images as the classifier judges them, their count): the
  floor both GAN stages compare with, computed once."""
  judge = experiments.judge(classifier_workdir, dataset, data_dir)
  images = data.load(dataset, "train", data_dir)["image"][:num]
  return judge.real_baseline(images), len(images)


def _gan(config, out, runs) -> dict:
  """The lecture's plain GAN (`config.plain`) beside the same models with the field's
  stabilisers (`config.stabilised`), both judged by the tour's CNN."""
  configs = {}
  for name in ("plain", "stabilised"):
    configs[name] = config[name].copy_and_resolve_references()
    configs[name].gan.classifier_workdir = runs["cnn"]
  loop.train_many(configs, out)
  plain = configs["plain"]
  real, num_real = _judged_real_images(runs["cnn"], plain.dataset, plain.data_dir or None,
                                       plain.gan.num_eval_samples)
  columns = ["samples", "stabilisers", "step", "D(x)", "D(G(z))", "classes covered",
             "class KL", "classifier-FID", "KID", "IS analogue", "precision", "recall",
             "density", "coverage"]
  names = ("classes_covered", "class_kl", "classifier_fid", "kid", "inception_score",
           "precision", "recall", "density", "coverage")
  # KID as mean ± std over its subsets.
  quality = lambda r, p="": [f"{r[p + n]:.3g} ± {r[p + 'kid_std']:.2g}" if n == "kid"
                             else r[p + n] for n in names]
  rows = [[f"{num_real:,} real training digits", "", "", "", "", *quality(real)]]
  judged, notes, figures = {}, [], []
  for name, run in configs.items():
    history = writers.read_metrics(os.path.join(out, name))
    judged[name] = [h for h in history if "test_classifier_fid" in h][-1]
    last = history[-1]
    rows.append([f"{run.gan.generator}, {name}",
                 ", ".join(gan.stabilisers(run, configs["plain"])) or "none",
                 judged[name]["step"], last["train_d_real"], last["train_d_fake"],
                 *quality(judged[name], "test_")])
    notes += [f"Warning ({name}): {w}" for w in gan.diagnose(run, history)]
    figures.append(_figure(os.path.join(out, name, "samples.png"),
                           f"The {name} {run.gan.generator}'s samples after {last['step']:,} "
                           "steps, from the run's fixed codings."))
  figures.append(_figure(os.path.join(out, "stabilised", "curves.png"),
                         "The stabilised GAN's training: D's and G's losses, D(x) and D(G(z)), "
                         "gradient norms and the CNN-judged sample quality, over steps."))
  p, s = judged["plain"], judged["stabilised"]
  num_classes = data.info(plain.dataset).num_classes
  sentence = (f"After {p['step']:,} steps the lecture's {plain.gan.generator} covers "
              f"{p['test_classes_covered']:.0f} of {num_classes} classes at classifier-FID "
              f"{p['test_classifier_fid']:.0f}; with "
              f"{', '.join(gan.stabilisers(configs['stabilised'], plain))}, after "
              f"{s['step']:,} steps, "
              f"it covers {s['test_classes_covered']:.0f} at FID "
              f"{s['test_classifier_fid']:.0f} (precision {s['test_precision']:.2f}, recall "
              f"{s['test_recall']:.2f}), against FID {real['classifier_fid']:.1f} (precision "
              f"{real['precision']:.2f}, recall {real['recall']:.2f}) for real digits judged "
              "by the same CNN.")
  return {"sentence": sentence, "columns": columns, "rows": rows, "notes": notes,
          "figures": figures}


_DIFFICULTY_NAMES = {"oscillation": "oscillation", "discriminator_wins": "D winning",
                     "mode_collapse": "mode collapse", "instability": "instability"}


def _gan_difficulties(config, out, runs) -> dict:
  config = config.copy_and_resolve_references()
  config.classifier_workdir = runs["cnn"]
  result = gan_difficulties.compare(config, out)
  rows, clauses = [], []
  for difficulty, pair in result.items():
    measure, _ = gan_difficulties.MEASURES[difficulty]
    plain, fixed = pair["plain"], pair["fixed"]
    rows.append([_DIFFICULTY_NAMES[difficulty], measure, plain["measure"], fixed["fix"],
                 fixed["measure"], plain["classifier_fid"], fixed["classifier_fid"]])
    verdict = ("improves" if gan_difficulties.improved(difficulty, plain, fixed)
               else "does not improve")
    clauses.append(f"for {_DIFFICULTY_NAMES[difficulty]}, {fixed['fix']} {verdict} the "
                   f"{measure} ({plain['measure']:.3g} to {fixed['measure']:.3g})")
  sentence = (f"On the same {config.num_steps:,} steps of the lecture's dense GAN, "
              f"{'; '.join(clauses)}.")
  figures = [_figure(os.path.join(result["mode_collapse"][name]["workdir"], "samples.png"),
                     f"Mode collapse, {name} ({'a one-number latent code' if name == 'plain' else result['mode_collapse']['fixed']['fix']}): "
                     "the samples from the run's fixed codings.")
             for name in ("plain", "fixed") if "mode_collapse" in result]
  return {"sentence": sentence,
          "columns": ["difficulty", "measure", "plain", "fix", "fixed", "plain FID",
                      "fixed FID"],
          "rows": rows, "notes": [], "figures": figures}


def _attacks(config, out, runs) -> dict:
  eps = list(config.eps)
  results, figures = {}, []
  for kind, spec in (
      ("untargeted", attacks.AttackSpec(pgd_steps=config.pgd_steps)),
      ("targeted", attacks.AttackSpec(attacks=("fgsm", "pgd"), pgd_steps=config.pgd_steps,
                                         targeted=True, target_class=config.target_class))):
    path = robustness.attack_workdir(runs["cnn"], eps, spec, out=os.path.join(out, kind),
                                     seed=config.seed)
    results[kind] = workdirs.read_json(os.path.join(path, robustness.RESULTS_FILE))["results"]
    if kind == "untargeted":
      label, shown = "Untargeted", ("test accuracy clean, under noise, FGSM and PGD, and the "
                                    "per-example worst case (grey band)")
    else:
      label = f"Targeted at class {config.target_class}"
      shown = "the share of the other digits that FGSM and PGD send there"
    figures += [_figure(os.path.join(path, "accuracy_vs_eps.png"), f"{label}: {shown}, against "
                        "eps."),
                _figure(os.path.join(path, "panda.png"),
                        f"{label}: PGD-{config.pgd_steps} at eps {max(eps):g} on digits the CNN "
                        "gets right; original, perturbation (rescaled to be seen) and "
                        "adversarial digit, each with the CNN's prediction.")]
  rows = [[u["eps"], u["accuracy_clean"], u["accuracy_noise"], u["accuracy_fgsm"],
           u["accuracy_pgd"], u["robust_accuracy"], t["success_fgsm"], t["success_pgd"]]
          for u, t in zip(results["untargeted"], results["targeted"])]
  e = _pick_eps(eps, config.report_eps)
  u = next(r for r in results["untargeted"] if r["eps"] == e)
  t = next(r for r in results["targeted"] if r["eps"] == e)
  sentence = (f"At eps {e:g}, FGSM takes the CNN's accuracy from {u['accuracy_clean']:.3f} to "
              f"{u['accuracy_fgsm']:.3f} and PGD-{config.pgd_steps} to {u['accuracy_pgd']:.3f}, "
              f"while random noise of the same size leaves {u['accuracy_noise']:.3f}; targeted "
              f"PGD sends {t['success_pgd']:.0%} of the other digits to class "
              f"{config.target_class}.")
  return {"sentence": sentence,
          "columns": ["eps", "clean", "noise", "FGSM", f"PGD-{config.pgd_steps}", "worst case",
                      f"FGSM to {config.target_class}", f"PGD to {config.target_class}"],
          "rows": rows,
          "notes": ["Accuracy on the test split; the last two columns are targeted success "
                    "rates."],
          "figures": figures}


def _transfer(config, out, runs) -> dict:
  spec = attacks.AttackSpec(attacks=("fgsm", "pgd"), pgd_steps=config.pgd_steps)
  rows = robustness.transfer(runs["cnn"], {"MLP": runs["mlp"]}, list(config.eps), spec,
                             seed=config.seed)
  tables.write_table(rows, ["success_fgsm", "success_pgd"], out, "transfer",
                         target=runs["cnn"])
  figure = robustness.plot_rows(rows, "success", spec.attacks,
                                os.path.join(out, "transfer.png"),
                                "attack success on the CNN, by crafting model")
  e = _pick_eps(list(config.eps), config.report_eps)
  at = {name: next(r for r in results if r["eps"] == e) for name, results in rows.items()}
  sentence = (f"At eps {e:g}, PGD crafted on the MLP, with no access to the CNN's gradients, "
              f"flips {at['MLP']['success_pgd']:.0%} of the digits the CNN gets right "
              f"(white-box: {at['white-box']['success_pgd']:.0%}).")
  return {"sentence": sentence, "columns": ["crafted on", "eps", "FGSM success", "PGD success"],
          "rows": [[name, r["eps"], r["success_fgsm"], r["success_pgd"]]
                   for name, results in rows.items() for r in results],
          "figures": [_figure(figure, "Attack success on the CNN against eps: FGSM and PGD "
                              "crafted on the CNN itself (white-box) and on the MLP (black-box "
                              "transfer).")]}


def _adversarial_training(config, out, runs) -> dict:
  trained = {"FGSM-trained": os.path.join(out, "fgsm_trained"),
             "PGD-trained": os.path.join(out, "pgd_trained")}
  loop.train_and_evaluate(config.train, trained["FGSM-trained"])
  loop.train_and_evaluate(config.pgd_train, trained["PGD-trained"])
  models = {"normal": runs["cnn"], **trained}
  spec = attacks.AttackSpec(pgd_steps=config.pgd_steps)
  rows = robustness.compare(models, list(config.eps), spec, seed=config.seed)
  tables.write_table(rows, ["accuracy_clean", *(f"accuracy_{a}" for a in spec.attacks)],
                         out, "robustness")
  figure = robustness.plot_rows(rows, "accuracy", ("fgsm", "pgd"),
                                os.path.join(out, "robustness.png"),
                                "test accuracy under attack, by model")
  e = min(config.eps)
  at = {name: next(r for r in results if r["eps"] == e) for name, results in rows.items()}
  normal, fgsm, pgd = at["normal"], at["FGSM-trained"], at["PGD-trained"]
  # PGD and AutoAttack on the same subset: the gap is what fixed-step PGD overestimates.
  aa_spec = attacks.AttackSpec(attacks=("pgd", "autoattack"), pgd_steps=config.pgd_steps,
                               apgd_steps=config.apgd_steps,
                               autoattack_version=config.autoattack_version)
  aa = robustness.compare(models, [e], aa_spec, seed=config.seed,
                          num_examples=config.autoattack_examples)
  sentence = (f"At eps {e:g}, training on FGSM examples "
              f"{_moves(normal['accuracy_fgsm'], fgsm['accuracy_fgsm'])} accuracy under FGSM "
              f"from {normal['accuracy_fgsm']:.3f} to {fgsm['accuracy_fgsm']:.3f} and "
              f"{_moves(normal['accuracy_pgd'], fgsm['accuracy_pgd'])} it under PGD from "
              f"{normal['accuracy_pgd']:.3f} to {fgsm['accuracy_pgd']:.3f}; training on PGD "
              f"examples takes PGD's to {pgd['accuracy_pgd']:.3f}, at clean accuracy "
              f"{pgd['accuracy_clean']:.3f} (FGSM-trained: {fgsm['accuracy_clean']:.3f}, "
              f"normal: {normal['accuracy_clean']:.3f}).")
  pgd_adv = config.pgd_train.adv
  return {"sentence": sentence,
          "columns": ["model", "eps", "clean", "noise", "FGSM", f"PGD-{config.pgd_steps}"],
          "rows": [[name, r["eps"], r["accuracy_clean"], r["accuracy_noise"],
                    r["accuracy_fgsm"], r["accuracy_pgd"]]
                   for name, results in rows.items() for r in results],
          "notes": [f"The FGSM-trained model: "
                    f"{writers.read_metrics(trained['FGSM-trained'])[-1]['step']} steps "
                    f"of alpha {config.train.adv.alpha} * CE(x) + {1 - config.train.adv.alpha:g}"
                    f" * CE(FGSM(x)) at eps {config.train.adv.eps}; the PGD-trained one: "
                    f"{writers.read_metrics(trained['PGD-trained'])[-1]['step']} steps of "
                    f"CE(PGD-{pgd_adv.pgd_steps}(x)) at eps {pgd_adv.eps} (Madry et al.).",
                    _autoattack_note(aa, e, config)],
          "figures": [_figure(figure, "Test accuracy under FGSM and PGD against eps: the "
                              "normal CNN, the FGSM-trained and the PGD-trained one.")]}


def _autoattack_note(rows: dict, eps: float, config) -> str:
  parts = ", ".join(
      f"{name} {r[0]['accuracy_autoattack']:.3f} (PGD-{config.pgd_steps}: "
      f"{r[0]['accuracy_pgd']:.3f})" for name, r in rows.items())
  return (f"AutoAttack ({config.autoattack_version} version) on the first "
          f"{config.autoattack_examples} test digits only, to keep the tour short, at eps "
          f"{eps:g}: robust accuracy {parts} on the same digits.")


def _vat(config, out, runs) -> dict:
  del runs
  names = list(vat_comparison.variants(config))[:2]  # The supervised baseline and VAT, on the same labels.
  table = vat_comparison.compare(config, out, [config.seed], names)
  sup, semi = (table[n]["mean"] for n in names)
  labels = names[0].rsplit("_", 1)[-1]
  sentence = (f"With {labels} labels, VAT's consistency term on the unlabelled images "
              f"{_moves(sup, semi)} the test error from {sup:.3f} (supervised on the same "
              f"labels and steps) to {semi:.3f}.")
  return {"sentence": sentence, "columns": ["variant", "labels", "steps", "test error"],
          "rows": [[n, int(labels), config.num_steps, table[n]["mean"]] for n in names],
          "figures": [_figure(os.path.join(out, vat_comparison.CURVES_FILE),
                              f"Test error over training with {labels} labels: supervised "
                              "only, and with VAT's term on the unlabelled images.")]}


def _poisoning(config, out, runs) -> dict:
  del runs
  result = poison_sweep.sweep(config.train, out, list(config.fractions))
  p = config.train.poison
  first, last = result["runs"][0], result["runs"][-1]
  sentence = (f"Relabelling {last['fraction']:.0%} of the {p.source_class}s as "
              f"{p.target_class}s {_moves(first['test_target_class_accuracy'], last['test_target_class_accuracy'])}"
              f" the {p.source_class}s' test accuracy from "
              f"{first['test_target_class_accuracy']:.3f} to {last['test_target_class_accuracy']:.3f} "
              f"({last['test_attack_success']:.0%} read as {p.target_class}) while overall accuracy "
              f"goes from {first['test_accuracy']:.3f} to {last['test_accuracy']:.3f}.")
  return {"sentence": sentence,
          "columns": ["poisoned fraction", "test accuracy", f"accuracy on {p.source_class}s",
                      f"{p.source_class}s read as {p.target_class}"],
          "rows": [[r["fraction"], r["test_accuracy"], r["test_target_class_accuracy"],
                    r["test_attack_success"]] for r in result["runs"]],
          "figures": [_figure(os.path.join(out, poison_sweep.CURVE_FILE),
                              f"Against the share of {p.source_class}s relabelled as "
                              f"{p.target_class}s: test accuracy, accuracy on the "
                              f"{p.source_class}s and the share of them read as "
                              f"{p.target_class}.")]}


STAGES = (
    Stage("cnn_vs_mlp", "Convolutional vs dense networks", (), _cnn_vs_mlp),
    Stage("gan", "The lecture's dense GAN", ("cnn_vs_mlp",), _gan),
    Stage("dcgan", "DCGAN", ("cnn_vs_mlp",), _gan),
    Stage("gan_difficulties", "The four difficulties of training GANs, fixed",
          ("cnn_vs_mlp",), _gan_difficulties),
    Stage("attacks", "Adversarial examples: FGSM, targeted attacks, PGD and noise",
          ("cnn_vs_mlp",), _attacks),
    Stage("transfer", "Black-box transfer", ("cnn_vs_mlp",), _transfer),
    Stage("adversarial_training", "Adversarial training", ("cnn_vs_mlp",),
          _adversarial_training),
    Stage("vat", "Virtual adversarial training with 100 labels", (), _vat),
    Stage("poisoning", "Data poisoning by label flipping", (), _poisoning),
)


def _failure(e: Exception) -> str:
  if isinstance(e, UserError):
    return str(e)
  return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"


def run(config, workdir: str, on_stage: Callable[[int, int, dict], None] | None = None) -> dict:
  """Runs the stages named in `config.stages` into `workdir`; writes and returns the report.

  `on_stage(i, n, section)` is called before stage i of n starts (section without results)
  and when it ends. Refuses a workdir that already holds a report, before any work.
  """
  names = [config.stages] if isinstance(config.stages, str) else config.stages
  keys = [k.strip() for item in names for k in item.split(",") if k.strip()]  # "a,b" too.
  unknown = [k for k in keys if k not in {s.key for s in STAGES}]
  if unknown or not keys:
    raise UserError(f"Unknown tour stage {', '.join(unknown) or '(none)'}; choose from "
                    f"{', '.join(s.key for s in STAGES)}.")
  workdir = workdirs.local_path(workdir)
  report.check_free(workdir)
  os.makedirs(workdirs.writable_dir(workdir, "--workdir"), exist_ok=True)
  stages = [s for s in STAGES if s.key in keys]
  runs, sections, ok, start = {}, [], set(), time.time()
  for i, stage in enumerate(stages):
    section = {"key": stage.key, "title": stage.title, "status": "running", "sentence": "",
               "columns": [], "rows": [], "notes": [], "figures": [], "seconds": 0.0}
    if on_stage:
      on_stage(i, len(stages), section)
    missing = [k for k in stage.needs if k not in ok]
    began = time.time()
    if missing:
      section.update(status="skipped", error=f"Needs the stage {', '.join(missing)}, which "
                     "did not finish.")
    else:
      try:
        section.update(stage.run(config[stage.key], os.path.join(workdir, stage.key), runs))
        section["status"] = "ok"
        ok.add(stage.key)
      except loop.Stopped:  # SIGINT or SIGTERM stops the whole tour, not one stage.
        raise
      except Exception as e:  # pylint: disable=broad-except  # One stage must not stop the tour.
        logging.error("Tour stage %s failed:\n%s", stage.key, traceback.format_exc())
        section.update(status="failed", error=_failure(e))
    section["seconds"] = time.time() - began
    section["figures"] = [{**f, "path": os.path.relpath(f["path"], workdir)}
                          for f in section["figures"] if os.path.exists(f["path"])]
    sections.append(section)
    if on_stage:
      on_stage(i, len(stages), section)
  result = report.make(sections, config, time.time() - start)
  if jax.process_index() == 0:
    report.write(result, workdir)
  return result
