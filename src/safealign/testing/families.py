"""The tiny models of real families moved to :mod:`safealign.models.families` (the dry runs use them); this name
stays an alias of that module for the tests and helpers that import it from here."""

import sys

from safealign.models import families

sys.modules[__name__] = families
