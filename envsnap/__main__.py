"""`python -m envsnap`: the same as the `envsnap` command."""

from .cli import run

run()
