"""Layer 5 of gan_lab: comparisons over several runs (models, seeds, fractions, attacks), the
tour of the lecture and its report."""
