"""accs-sync: mirror an Adobe Commerce as a Cloud Service product catalog into SQL."""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["__version__"]
