"""Signs of gradient masking in attack results (Athalye et al. 2018; Carlini et al. 2019;
Croce & Hein 2020): each becomes one warning sentence.

- a weaker attack beats a stronger one: FGSM beats PGD, or PGD's 10 steps beat APGD's 100;
- the black-box Square beats the white-box attacks, or breaks examples AutoAttack's
  white-box attacks left robust;
- accuracy rises with eps, or does not fall towards 0 at large eps;
- the input gradient is exactly zero at many test points.
"""

TOLERANCE = 0.01  # Differences below 1% of the examples are noise, not a sign.
WHITE_BOX = ("fgsm", "pgd", "apgd-ce", "apgd-t", "fab-t")


def sanity_checks(results: list[dict], targeted: bool = False) -> list[str]:
  """Warning sentences for results per eps ({eps, accuracy_<attack>, ...}, as
  `gan_lab.training.attack_eval.evaluate` returns them)."""
  out = []
  metric, worse = ("success", lambda a, b: a < b - TOLERANCE) if targeted else (
      "accuracy", lambda a, b: a > b + TOLERANCE)
  for r in results:
    e = f"eps {r['eps']:g}"
    pgd, fgsm = r.get(f"{metric}_pgd"), r.get(f"{metric}_fgsm")
    if pgd is not None and fgsm is not None and worse(pgd, fgsm):
      out.append(f"PGD is weaker than FGSM at {e} ({metric} {pgd:.3f} vs {fgsm:.3f}): a sign "
                 "of gradient masking, or too few PGD steps.")
    apgd = r.get("accuracy_apgd-ce")
    if pgd is not None and apgd is not None and not targeted and apgd > pgd + TOLERANCE:
      out.append(f"More steps did worse at {e}: APGD-CE's accuracy {apgd:.3f} is above "
                 f"PGD's {pgd:.3f}: a sign of gradient masking.")
    white = [r[f"accuracy_{a}"] for a in WHITE_BOX if f"accuracy_{a}" in r]
    square = r.get("accuracy_square")
    if square is not None and white and square < min(white) - TOLERANCE:
      out.append(f"The black-box Square beats every white-box attack at {e} (accuracy "
                 f"{square:.3f} vs {min(white):.3f}): the gradients mislead the attacks, a "
                 "sign of gradient masking.")
    before, after = r.get("autoattack_after_fab-t"), r.get("autoattack_after_square")
    if before is not None and after is not None and before - after > TOLERANCE:
      out.append(f"Square broke {before - after:.1%} of the examples at {e} that AutoAttack's "
                 "white-box attacks left robust: a sign of gradient masking.")
    zero = r.get("zero_gradient_share")
    if zero is not None and zero > TOLERANCE:
      out.append(f"The input gradient is exactly zero at {zero:.1%} of the test points: "
                 "gradient attacks cannot move there (gradient masking).")
  if not targeted:
    out += _rises_with_eps(results)
  largest = max(results, key=lambda r: r["eps"])
  strongest = next((k for k in ("accuracy_pgd", "accuracy_fgsm") if k in largest), None)
  if strongest and not targeted and largest["eps"] >= 0.3:
    clean, last = largest["accuracy_clean"], largest[strongest]
    if last > 0.5 * clean:
      out.append(f"Accuracy under {strongest[9:].upper()} is still {last:.3f} at eps "
                 f"{largest['eps']:g} (clean {clean:.3f}): a sign of gradient masking.")
  return out


def _rises_with_eps(results: list[dict]) -> list[str]:
  out = []
  ordered = sorted(results, key=lambda r: r["eps"])
  names = [k for k in ordered[0] if k.startswith("accuracy_") and k != "accuracy_clean"]
  for name in names:
    for small, large in zip(ordered, ordered[1:]):
      if large.get(name) is not None and large[name] > small[name] + TOLERANCE:
        out.append(f"Accuracy under {name[9:]} rises with eps, from {small[name]:.3f} at eps "
                   f"{small['eps']:g} to {large[name]:.3f} at eps {large['eps']:g}: a sign "
                   "of gradient masking.")
        break
  return out
