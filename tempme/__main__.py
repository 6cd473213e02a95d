"""``python -m tempme``: the `tempme` command line (:mod:`tempme.app.cli`).

The one module of the core package that imports the app layer (an entry point, exempted in the
import-linter contract of pyproject.toml).
"""

from tempme.app.cli import main

if __name__ == "__main__":
    main()
