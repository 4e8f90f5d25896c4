"""`python -m envsnap`: the same as the `envsnap` command."""

from .cli import run

if __name__ == "__main__":  # not when a worker process re-imports the main module
    run()
