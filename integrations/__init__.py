"""Outside systems: connectors that call us (webhooks) and clients we call (platforms, portals).

One package per vendor with fixed file names: ``webhook.py`` (verify + parse), ``client.py``
(calls out), ``schemas.py`` (pydantic models of the vendor's payloads); a connector's package
declares its ``SOURCE`` record (``connector.Source``) in its ``__init__.py``. ``registry.py`` maps
each slug to its record; ``tenants_check.py`` checks a tenants file against the registry.
Integrations never import the worker.
"""
