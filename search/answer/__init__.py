"""Which models are the answer and what they score: the rules, pure over typed records (rules:
ranking, members, the cut, the verdict), the reference configs the answer is compared with
(references), the technique finding (findings), a model's name by its role (names), each
model's figures from its checkpoints, with torch (scoring), and all of it put together as the
report a writer only writes (report). No file is written here and no Tune job is run."""
