"""Getting messages to people: email (SMTP or a development outbox)."""
