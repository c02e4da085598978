"""Signs of gradient masking in attack results (Athalye et al. 2018; Carlini et al. 2019)."""


def sanity_checks(results: list[dict], targeted: bool = False) -> list[str]:
  """Warning sentences for results per eps ({eps, accuracy_<attack>, ...}, as
  `gan_lab.training.attack_eval.evaluate` returns them): PGD, FGSM's iterated form, doing
  worse than FGSM, and accuracy that does not fall towards 0 as eps grows large."""
  out = []
  metric, worse = ("success", lambda a, b: a < b - 0.01) if targeted else (
      "accuracy", lambda a, b: a > b + 0.01)
  for r in results:
    pgd, fgsm = r.get(f"{metric}_pgd"), r.get(f"{metric}_fgsm")
    if pgd is not None and fgsm is not None and worse(pgd, fgsm):
      out.append(f"PGD is weaker than FGSM at eps {r['eps']:g} ({metric} {pgd:.3f} vs "
                 f"{fgsm:.3f}): a sign of gradient masking, or too few PGD steps.")
  largest = max(results, key=lambda r: r["eps"])
  strongest = next((k for k in ("accuracy_pgd", "accuracy_fgsm") if k in largest), None)
  if strongest and not targeted and largest["eps"] >= 0.3:
    clean, last = largest["accuracy_clean"], largest[strongest]
    if last > 0.5 * clean:
      out.append(f"Accuracy under {strongest[9:].upper()} is still {last:.3f} at eps "
                 f"{largest['eps']:g} (clean {clean:.3f}): a sign of gradient masking.")
  return out
