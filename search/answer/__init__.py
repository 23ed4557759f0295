"""Which models are the answer and what they score: the rules, pure over typed records (rules:
ranking, members, the cut, the verdict), the reference configs the answer is compared with
(references), the technique finding (findings), a model's name by its role (names), and the
figures a report writer only writes, computed from the models' checkpoints with torch
(scoring). No file is written here and no Tune job is run."""
