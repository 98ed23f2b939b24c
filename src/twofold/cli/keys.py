"""`twofold keys`: generate, add, promote, reseal, retire, list. Rotation runs in phases that
running servers follow without a restart (docs/security.md, "Key rotation"). No command here
prints key material, except `generate` and `add` printing a new key for the environment.
`rotate-signing` and `list-signing` manage the keys that sign ID tokens (docs/oidc.md)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from twofold.cli.common import DataDirOption, fail, make_settings
from twofold.core import words
from twofold.core.errors import TwofoldError
from twofold.core.validation import parse_duration
from twofold.core.words import translate
from twofold.crypto.keyring import KeyRing
from twofold.services import keys as keys_service
from twofold.services import signing_keys
from twofold.services.key_state import REFRESH_SECONDS
from twofold.services.runtime import Runtime, build_runtime

keys_app = typer.Typer(
    help="Keys that seal secrets at rest, and rotating them without downtime: "
    "add → promote → reseal → retire. The keys that sign ID tokens: rotate-signing, "
    "list-signing.",
    no_args_is_help=True,
)

KidArgument = Annotated[str, typer.Argument(help="Key id, as shown by `twofold keys list`.")]


@contextmanager
def _runtime(data_dir: Path | None) -> Iterator[Runtime]:
    try:
        runtime = build_runtime(make_settings(data_dir))
    except TwofoldError as exc:
        raise fail(exc.detail) from exc
    try:
        yield runtime
    except TwofoldError as exc:
        raise fail(exc.detail) from exc
    finally:
        runtime.engine.dispose()


@keys_app.command("generate")
def keys_generate(
    kid: Annotated[str, typer.Option(help="Key id stored beside each ciphertext.")] = "k1",
) -> None:
    """Print a new key for TWOFOLD_SECRET_KEYS (keep it secret; every server needs it)."""
    typer.echo(KeyRing.generate(kid).to_text().strip())


@keys_app.command("list")
def keys_list(data_dir: DataDirOption = None) -> None:
    """Show key ids, their state and how many values each seals (never key material)."""
    with _runtime(data_dir) as runtime:
        listing = keys_service.list_keys(runtime)
    labels = [column.label for column in keys_service.SEALED_COLUMNS]
    header = ["KID", "STATE", "HERE", *(s.upper() for s in labels), "RECOVERY CODES", "FINGERPRINT"]
    rows = [
        [
            info.kid,
            info.state,
            "yes" if info.in_this_process else "no",
            *(str(info.sealed[label]) for label in labels),
            str(info.recovery_codes),
            info.fingerprint or "-",
        ]
        for info in listing.keys
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
    if listing.primary_kid and listing.promoted_at:
        typer.echo(
            f"\nNew values are sealed with '{listing.primary_kid}' "
            f"(primary since {listing.promoted_at:%Y-%m-%d %H:%M:%S} UTC)."
        )
    typer.echo(
        f"Keys are read from the key file {listing.key_file}."
        if listing.key_file
        else "Keys are read from TWOFOLD_SECRET_KEYS."
    )
    typer.echo(
        "HERE: whether this process has the key. Recovery codes: unused ones, keyed with it."
    )


@keys_app.command("add")
def keys_add(
    data_dir: DataDirOption = None,
    kid: Annotated[
        str | None, typer.Option(help="Key id for the new key (default: the next kN).")
    ] = None,
) -> None:
    """Phase 1: a new key that opens values everywhere but seals nothing until promoted."""
    with _runtime(data_dir) as runtime:
        added = keys_service.add_key(runtime, kid)
    if added.key_file is not None:
        typer.echo(
            f"Added key '{added.kid}' to {added.key_file} (decrypt-only: it opens values but "
            "seals nothing yet).\n"
            f"Running servers that share this key file pick it up within {REFRESH_SECONDS} s.\n"
            f"Next: twofold keys promote {added.kid}"
        )
        return
    typer.echo(added.entry)  # stdout: the new entry only, so it can be captured
    typer.echo(
        f"\nThat is the new key '{added.kid}' (secret: store it like the others). Keys come "
        "from TWOFOLD_SECRET_KEYS, which running servers cannot re-read, so:\n"
        "  1. Append it to TWOFOLD_SECRET_KEYS on every server (comma- or newline-separated),\n"
        "     keeping the current keys, and restart the servers one at a time. Until it is\n"
        "     promoted it only opens values, so old and new servers work side by side.\n"
        f"  2. When every server runs with it: twofold keys promote {added.kid}\n"
        "     (run with the same TWOFOLD_SECRET_KEYS).",
        err=True,
    )


@keys_app.command("promote")
def keys_promote(kid: KidArgument, data_dir: DataDirOption = None) -> None:
    """Phase 2: seal new values with KID, on every running server within seconds."""
    with _runtime(data_dir) as runtime:
        promoted = keys_service.promote(runtime, kid)
    if not promoted.changed:
        typer.echo(f"Key '{kid}' is already the primary key; nothing changed.")
        return
    typer.echo(
        f"Key '{kid}' is now the primary key (was '{promoted.previous}'). Running servers seal "
        f"new values with it within {REFRESH_SECONDS} s.\n"
        "Next: twofold keys reseal"
    )


@keys_app.command("reseal")
def keys_reseal(
    data_dir: DataDirOption = None,
    batch_size: Annotated[
        int, typer.Option(min=1, max=10000, help="Values re-sealed per transaction.")
    ] = 200,
) -> None:
    """Phase 3: re-seal every sealed value with the primary key, in batches.

    Safe to stop and run again, and to run while servers are serving.
    """
    with _runtime(data_dir) as runtime:
        primary = runtime.keys.primary_kid
        total = keys_service.count_to_reseal(runtime)
        if total == 0:
            typer.echo(f"Nothing to re-seal: every sealed value is under '{primary}'.")
            return
        totals: dict[str, list[int]] = {}
        failed: dict[str, list[int]] = {}
        with typer.progressbar(length=total, label=f"Re-sealing under '{primary}'") as bar:
            for batch in keys_service.reseal(runtime, batch_size=batch_size):
                done = totals.setdefault(batch.column, [0, 0])
                done[0] += batch.resealed
                done[1] += batch.skipped
                failed.setdefault(batch.column, []).extend(batch.failed_ids)
                bar.update(batch.resealed + batch.skipped + batch.failed)
    for column, (resealed, skipped) in totals.items():
        line = f"{column}: {resealed} re-sealed"
        if skipped:
            line += f", {skipped} changed meanwhile by a server (already re-sealed by it)"
        if failed.get(column):
            line += f", {len(failed[column])} could not be opened"
        typer.echo(line)
    broken = {column: ids for column, ids in failed.items() if ids}
    if broken:
        listed = "; ".join(
            translate(words.COLUMN_IDS(column=column, ids=", ".join(map(str, ids))))
            for column, ids in broken.items()
        )
        raise fail(words.VALUES_NOT_OPENED(listed=listed))
    typer.echo("Next: twofold keys list, then twofold keys retire OLD_KID")


@keys_app.command("retire")
def keys_retire(
    kid: KidArgument,
    data_dir: DataDirOption = None,
    discard_recovery_codes: Annotated[
        bool,
        typer.Option(
            "--discard-recovery-codes",
            help="Withdraw unused recovery codes keyed with KID (they cannot be re-keyed).",
        ),
    ] = False,
) -> None:
    """Phase 4: stop using KID everywhere, once nothing is sealed with it any more."""
    with _runtime(data_dir) as runtime:
        retired = keys_service.retire(runtime, kid, discard_recovery_codes=discard_recovery_codes)
    if retired.discarded_recovery_codes:
        typer.echo(f"Withdrew {retired.discarded_recovery_codes} unused recovery codes.")
    if retired.key_file is not None:
        typer.echo(f"Key '{kid}' is retired and removed from {retired.key_file}.")
    else:
        typer.echo(
            f"Key '{kid}' is retired: running servers stop using it within {REFRESH_SECONDS} s. "
            "Remove it from TWOFOLD_SECRET_KEYS on every server at their next restart."
        )


def _when(moment: datetime | None) -> str:
    return "-" if moment is None else f"{moment:%Y-%m-%d %H:%M:%S} UTC"


@keys_app.command("rotate-signing")
def keys_rotate_signing(
    data_dir: DataDirOption = None,
    activate_after: Annotated[
        str,
        typer.Option(
            "--activate-after",
            help="How long clients get to fetch the new keys before they sign: 24h, 30m, "
            "2d, 1h30m, or 0 for at once.",
        ),
    ] = "24h",
) -> None:
    """Add new ID-token signing keys (RS256 and ES256) without breaking clients.

    The new keys are in the JWKS at once and sign only after --activate-after, so clients
    that cache the JWKS learn them first. The keys they replace stay published until the
    ID tokens they signed have expired, then leave the JWKS (`twofold purge` deletes them).
    """
    try:
        delay = parse_duration(activate_after, "activate_after")
    except TwofoldError as exc:
        raise fail(exc.detail) from exc
    with _runtime(data_dir) as runtime, runtime.db() as db:
        rotation = signing_keys.rotate_signing_keys(db, runtime, activate_after=delay)
    for added in rotation.added:
        typer.echo(
            f"Added {added.alg} key {added.kid}: published now, signs from "
            f"{_when(added.activates_at)}."
        )
    for retiring in rotation.retiring:
        typer.echo(
            f"Key {retiring.kid} ({retiring.alg}) stays published until "
            f"{_when(retiring.unpublish_at)}."
        )
    typer.echo("Servers follow at once, without a restart. Check with: twofold keys list-signing")


@keys_app.command("list-signing")
def keys_list_signing(data_dir: DataDirOption = None) -> None:
    """Show the ID-token signing keys: kid, algorithm, state (next, signing, published-only,
    unpublished), when each signs from and when it leaves the JWKS (never key material)."""
    with _runtime(data_dir) as runtime, runtime.read_db() as db:
        listing = signing_keys.list_signing_keys(db, runtime.now())
    if not listing:
        typer.echo("No signing keys yet: `twofold serve` makes them when it starts.")
        return
    header = ["KID", "ALG", "STATE", "ACTIVATES", "UNPUBLISH AT"]
    rows = [
        [key.kid, key.alg, key.state.value, _when(key.activates_at), _when(key.unpublish_at)]
        for key in listing
    ]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
