"""The ``generic`` source: "your own app" posts bookings in bookwire's own shape."""
