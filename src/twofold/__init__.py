"""Twofold: a self-hosted sign-in service with two-factor authentication at its heart."""

__version__ = "0.1.0"
