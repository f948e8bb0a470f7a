"""``python -m evoforge ...`` runs the ``evoforge`` command.

Example:
    $ python -m evoforge show runs/demo
"""

from evoforge.cli import console

if __name__ == "__main__":
    console()
