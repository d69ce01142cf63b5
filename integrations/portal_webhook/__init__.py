"""The ``webhook`` portal: the client's own portal receives a signed POST when an event ends."""
