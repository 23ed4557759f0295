"""Statistics the answer and its report rest on, numpy, scipy and scikit-learn only (no torch,
no Ray): intervals over images
and seeds (intervals), the temperature and reliability bins (calibration), and the shift test
with the cut read off a new site's own scores (adapt)."""
