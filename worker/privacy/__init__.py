"""The privacy wing: what is personal, retention, erasure, and the audit log."""
