"""Real-browser tests: Debian's Chromium, driven by Playwright, against `twofold serve`.

A package (not a plain folder) so that the browser fixture's "package" scope ends with the
last browser test: a running sync Playwright marks an asyncio loop as running in the main
thread, which would break later tests that call asyncio.run().
"""
