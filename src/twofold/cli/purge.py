"""`twofold purge`: the housekeeping every server also does in the background, on demand."""

from __future__ import annotations

from typing import Annotated

import typer

from twofold.cli.common import DataDirOption, open_runtime
from twofold.services import housekeeping

LABELS = {
    "sessions": "expired sessions",
    "links": "used or expired one-time links",
    "emails": "sent or given-up emails",
    "throttles": "old password-throttle rows",
    "signing_keys": "unpublished ID-token signing keys",
    "sms_codes": "old texted codes",
    "sms_windows": "ended SMS rate windows",
    "remembered_browsers": "remembered browsers past their 30 days",
    "passkey_challenges": "expired security-key challenges",
}


def purge_command(
    batch_size: Annotated[
        int,
        typer.Option(
            "--batch-size",
            min=1,
            max=10_000,
            help="Rows deleted per transaction (small batches never block sign-ins for long).",
        ),
    ] = housekeeping.BATCH_SIZE,
    data_dir: DataDirOption = None,
) -> None:
    """Delete expired sessions, used or expired one-time links, sent or given-up emails,
    old password-throttle rows, unpublished signing keys, old texted codes, ended SMS rate
    windows, remembered browsers past their 30 days and expired security-key challenges now,
    and say how many of each.
    The audit log is kept. Running servers do the same every TWOFOLD_PURGE_INTERVAL_SECONDS."""
    with open_runtime(data_dir) as (runtime, _db):
        due = housekeeping.count_due(runtime)
        if due.total > batch_size:
            with typer.progressbar(length=due.total, label="Purging") as bar:
                report = housekeeping.purge(
                    runtime, batch_size=batch_size, on_batch=lambda _kind, n: bar.update(n)
                )
        else:
            report = housekeeping.purge(runtime, batch_size=batch_size)
    for kind, label in LABELS.items():
        typer.echo(f"Removed {getattr(report, kind)} {label}.")
