"""An outside implementation whose module does not import (its framework is missing): tests/test_plugins.py."""

import no_such_framework_rnnbench  # noqa: F401
