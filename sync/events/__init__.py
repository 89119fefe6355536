"""Adobe I/O Events for the mirror (issue 16): the journal client (:mod:`.journal`), pure
coalescing of a batch (:mod:`.coalesce`), the consumer that applies a batch and its journal
position in one transaction (:mod:`.consumer`), the subscriptions (:mod:`.setup`), settings
checks (:mod:`.config`), status (:mod:`.status`) and metrics (:mod:`.metrics`).

Nothing is imported here: :mod:`sync.settings` reads :mod:`.config` without the rest.
"""
