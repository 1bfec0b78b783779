"""Allow `python -m improve_hpo ...`, the same as the `improve-hpo` console script."""

from improve_hpo.cli import main

raise SystemExit(main())
