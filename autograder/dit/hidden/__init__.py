"""The DiT assignment's hidden tests: one module per question, q5's GPU job in its own."""
