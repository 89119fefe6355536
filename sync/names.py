"""The resources' names and the products' path, for the layers below :mod:`sync.resources`.

``PRODUCTS = Resource(name=PRODUCTS_NAME, path=PRODUCTS_PATH, ...)`` is declared from these, so
the api, db and observer layers say "products" through the declaration's own values without
importing the layer above them (a module here imports nothing of accs-sync's).
"""

from __future__ import annotations

__all__ = ["PRODUCTS_NAME", "PRODUCTS_PATH", "RESOURCE_NAMES"]

#: ``sync_runs``/``catalog_changes``/``sync_rejects`` resource name of products (public contract).
PRODUCTS_NAME = "products"
#: The products search, under ``API_ENDPOINT``.
PRODUCTS_PATH = "/V1/products"
#: Every name ``SYNC_RESOURCES`` and ``--resource`` accept, in the declared order:
#: :func:`sync.resources.resource_names`, written out so the command line and the settings need
#: not import the declarations' tables (SQLAlchemy); a test keeps the two equal.
RESOURCE_NAMES = ("products", "categories", "source_items", "attributes")
