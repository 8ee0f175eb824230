"""`python -m fdvla_policy_node.train` (and `torchrun ... -m fdvla_policy_node.train`): the CLI."""

import sys

from .cli import main

sys.exit(main())
