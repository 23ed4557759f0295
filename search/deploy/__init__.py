"""The answer outside a search, with torch, numpy, scipy and scikit-learn (neither Ray nor
Optuna is imported): load it from an experiment and score images (answer), or as one torch
module to export (module). search.predict and search.export are the command lines over it."""
