"""Guest media: branded events, a QR sign and an album (seed 000).

The HTTP contract is docs/guest-media-contract.md.
"""
