"""Hidden tests, one module per question. Each module registers tests with ``suite.hidden_test``."""
