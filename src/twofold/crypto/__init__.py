"""Secrets at rest, recovery-code digests, random tokens and password hashing, by concern:
`keyring` (keys, sealing, digests), `key_file` (the key file on disk), `tokens` (random
tokens and comparison), `passwords` (argon2id).

Everything that touches key material lives here so the rest of Twofold never handles raw keys.
"""
