"""Grading many submissions: finding them, warm worker processes, resuming, and what the TA gets."""
