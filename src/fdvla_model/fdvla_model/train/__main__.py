"""`python -m fdvla_model.train` (and `torchrun ... -m fdvla_model.train`): the CLI."""

import sys

from .cli import main

sys.exit(main())
