"""What a finished search leaves for a reader: the report's files (report), the console summary
(summary), MODEL_CARD.md (card), the figures (plots) and TensorBoard's HParams rows (board).
They write what search.answer.report computed; they decide nothing."""
