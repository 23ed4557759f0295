"""Which models are the answer and what they score, pure over typed records: the rules
(rules: ranking, members, the cut, the verdict), the reference configs the answer is compared
with (references), the technique finding (findings), a model's name by its role (names), and
the computed report a writer only writes (scoring). No Ray, no Optuna, no file is written here."""
