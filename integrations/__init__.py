"""Outside systems: connectors that call us (webhooks) and clients we call (platforms, portals).

One package per vendor with fixed file names: ``webhook.py`` (verify + parse), ``client.py``
(calls out), ``schemas.py`` (pydantic models of the vendor's payloads). ``registry.py`` maps each
slug to its module. Integrations never import the worker.
"""
