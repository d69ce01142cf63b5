"""Guest media: branded events, a QR sign and an album (docs/guest-media-contract.md).

The HTTP contract is docs/guest-media-contract.md.
"""
