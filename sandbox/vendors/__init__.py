"""HTTP stubs of the vendor APIs connectors call (HubSpot, Acuity, Square, …).

Each module serves a vendor's documented shapes from seeded records (``POST /<vendor>/_seed``)
and never imports ``integrations``: a client is never tested against its own assumptions.
"""
