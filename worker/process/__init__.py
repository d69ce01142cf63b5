"""The process wing: ``bookwire up``, the demo tenants, the embedded broker, supervision."""
