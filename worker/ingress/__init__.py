"""The ingress wing: verify, record (inbox), publish after commit, answer."""
