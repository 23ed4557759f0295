"""The search: a Ray Tune job over an Optuna space, and the answer it hands back.

    python -m search.run --space focal          # the job (search.job runs its phases)
    python -m search.predict results/NAME images/
    python -m search.export results/NAME --format onnx

Top level: the command lines (run, predict, export), the job's phases (job) and its checked
settings (settings). Below them, one package per concern, each importing only from the
floors under it (tests/test_layers.py holds this):

    stats       intervals, calibration, the shift test       numpy, scipy, scikit-learn
    answer      which models are the answer, and its figures  rules pure over typed records
    settings    the flags as validated data
    tune        Ray Tune and Optuna, adapted; compat holds every private touch
    experiment  the folder: file names, formats, manifest, checks, resume, moves
    outputs     the report's files, written, not decided
    deploy      the answer outside a search: torch, no Ray
"""
