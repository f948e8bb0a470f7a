"""``python -m evoforge ...`` runs the ``evoforge`` command.

Example:
    $ python -m evoforge show runs/demo
"""

import sys

from evoforge.cli import main

if __name__ == "__main__":
    sys.exit(main())
