"""The records wing: failure records, outbound attempts, a booking's history (rows, no policy)."""
