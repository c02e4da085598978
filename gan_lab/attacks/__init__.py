"""Adversarial examples for any JAX model: each attack is a function of `logits_fn`.

`fgsm`, `pgd`, `apgd`, `fab` (FAB-T), `square` (score-based, black-box) and `random_noise`
craft examples and `autoattack` runs the standard ensemble; `vat_perturbation` is VAT's
label-free direction and `trades_perturbation` TRADES' inner maximisation; `suite` names
attacks for evaluation (`ATTACKS`, `AttackSpec`, `craft`) and `masking` reads results for
signs of gradient masking. See `base` for what they share.
"""

from gan_lab.attacks.apgd import apgd, dlr_loss
from gan_lab.attacks.autoattack import VERSIONS, autoattack
from gan_lab.attacks.base import NORMS, LogitsFn, check_args, check_linf_eps, input_gradient
from gan_lab.attacks.fab import fab
from gan_lab.attacks.fgsm import fgsm
from gan_lab.attacks.masking import sanity_checks
from gan_lab.attacks.noise import random_noise
from gan_lab.attacks.pgd import pgd
from gan_lab.attacks.square import square
from gan_lab.attacks.suite import ATTACKS, DEFAULT_ATTACKS, AttackSpec, craft, target_labels
from gan_lab.attacks.trades_perturbation import trades_perturbation
from gan_lab.attacks.vat_perturbation import (check_vat_args, entropy_loss, kl_from_logits,
                                              vat_loss, vat_perturbation)

__all__ = ["ATTACKS", "DEFAULT_ATTACKS", "NORMS", "VERSIONS", "AttackSpec", "LogitsFn", "apgd",
           "autoattack", "check_args", "check_linf_eps", "check_vat_args", "craft",
           "dlr_loss", "entropy_loss", "fab", "fgsm", "input_gradient", "kl_from_logits",
           "pgd", "random_noise", "sanity_checks", "square", "target_labels",
           "trades_perturbation", "vat_loss", "vat_perturbation"]
