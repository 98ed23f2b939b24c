"""Twofold as an OpenID Provider: the protocol's endpoints over services/oidc_*.py (decision
0015). Nothing here decides who may sign in; the services and the sign-in pages do."""
