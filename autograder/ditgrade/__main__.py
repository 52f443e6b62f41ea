"""``python -m ditgrade``: the ``ditgrade`` command."""

from .cli import command

command()
