"""The benchmark: bookwire's real processes under a measured load (``python -m bench``).

- ``stack``: starts broker, database, sandbox, ingress, workers and beat as processes;
- ``load``: the load generator, a process of its own (signed webhooks, keep-alive HTTP/1.1);
- ``collect``: reads the outcome from the platform stub and the store;
- ``monitor``: peak memory and CPU per process; ``profile``: py-spy summaries;
- ``report``: the numbers, the JSON and the Markdown; ``run`` and ``cli`` tie them together.

How to run it and how to read it: docs/benchmark.md.
"""
