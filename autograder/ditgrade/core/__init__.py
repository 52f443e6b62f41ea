"""The grader's core: extraction, the suite and its comparisons, results. Runs in the grader's process."""
