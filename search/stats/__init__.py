"""Statistics the answer and its report rest on, numpy and scipy only: intervals over images
and seeds (intervals), the temperature and reliability bins (calibration), and the shift test
with the cut read off a new site's own scores (adapt)."""
