"""`gitcops secrets`: SOPS files for age recipients, readable by `sops` and written like it.

encrypt, rotate and edit rewrite FILE in place (atomically); decrypt prints the plaintext, the
one command whose job is to show a secret.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gitcops.cli.common import write_atomically
from gitcops.cli.errors import fail, handle_errors
from gitcops.cli.output import err

if TYPE_CHECKING:
    from gitcops.secrets.sops import SopsFormat

secrets_app = typer.Typer(
    help="SOPS-encrypted files (age recipients): encrypt, decrypt, edit, rotate.",
    no_args_is_help=True,
)

File = Annotated[Path, typer.Argument(help="The file (its extension picks the format).")]
KeyFile = Annotated[
    list[Path] | None,
    typer.Option(
        "--key-file",
        help="age identities to try, besides SOPS_AGE_KEY, SOPS_AGE_KEY_FILE and sops's default.",
    ),
]
Output = Annotated[
    Path | None, typer.Option("--output", help="Write here instead of FILE ('-': stdout).")
]
InputType = Annotated[
    str | None, typer.Option("--input-type", help="yaml, json, dotenv, ini or binary.")
]


def _format(path: Path, given: str | None) -> SopsFormat:
    from gitcops.secrets.sops import SopsFormat, format_for

    if given is None:
        return format_for(path.name)
    try:
        return SopsFormat(given)
    except ValueError:
        choices = ", ".join(f.value for f in SopsFormat)
        raise typer.BadParameter(f"must be one of {choices}", param_hint="--input-type") from None


def _identities(key_files: list[Path] | None) -> tuple[list[object], str]:
    from gitcops.secrets.keys import load_identities

    found, tried = load_identities(os.environ, [p.expanduser() for p in key_files or []])
    return list(found), tried


def _read(path: Path) -> bytes:
    return path.read_bytes()


def _write(path: Path, data: bytes, output: Path | None, done: str | None = None) -> None:
    """In place by default, atomically, keeping the file's mode (new files: owner only).
    `done` ("encrypted {path}", ...) is reported on stderr for a file, not for standard output."""
    if output is not None and str(output) == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    write_atomically(output or path, data, new_mode=0o600)
    if done is not None:
        err(done.format(path=output or path))


@secrets_app.command()
@handle_errors
def encrypt(
    file: File,
    age: Annotated[
        list[str] | None,
        typer.Option("--age", help="Recipient(s), comma-separated or repeated."),
    ] = None,
    encrypted_regex: Annotated[
        str | None, typer.Option(help="Encrypt only values under keys matching this.")
    ] = None,
    unencrypted_suffix: Annotated[
        str | None, typer.Option(help="Leave values under keys ending so in clear text.")
    ] = None,
    output: Output = None,
    input_type: InputType = None,
) -> None:
    """Encrypt FILE for age recipients (from --age, SOPS_AGE_RECIPIENTS or .sops.yaml)."""
    from dataclasses import replace

    from gitcops.secrets import sops
    from gitcops.secrets.keys import parse_recipients

    fmt = _format(file, input_type)
    plain = _read(file)
    if sops.looks_encrypted(plain, fmt):
        fail(f"{file} is already encrypted; use `gitcops secrets rotate` or `edit`")
    rules = sops.EncryptionRules()
    if age:
        recipients = parse_recipients(age)
    elif os.environ.get("SOPS_AGE_RECIPIENTS"):
        recipients = parse_recipients(os.environ["SOPS_AGE_RECIPIENTS"])
    else:
        from gitcops.secrets.config import find_config, rule_for

        config = find_config(file.resolve().parent)
        if config is None:
            fail(f"no recipients for {file}: pass --age, set SOPS_AGE_RECIPIENTS or add .sops.yaml")
            return
        rule = rule_for(config, file.resolve())
        recipients, rules = rule.recipients, rule.rules
    if encrypted_regex is not None or unencrypted_suffix is not None:
        rules = replace(
            sops.EncryptionRules(),
            encrypted_regex=encrypted_regex,
            unencrypted_suffix=unencrypted_suffix,
        )
    data = sops.encrypt(plain, fmt, recipients, rules, source=str(file))
    _write(file, data, output, f"encrypted {{path}} for {len(recipients)} recipient(s)")


@secrets_app.command()
@handle_errors
def decrypt(
    file: File, key_file: KeyFile = None, output: Output = None, input_type: InputType = None
) -> None:
    """Print FILE decrypted (or write it to --output). The MAC is always verified."""
    from gitcops.secrets import sops

    fmt = _format(file, input_type)
    identities, tried = _identities(key_file)
    plain = sops.decrypt_to_text(_read(file), fmt, identities, source=str(file), tried=tried)
    _write(file, plain, output if output is not None else Path("-"))


@secrets_app.command()
@handle_errors
def rotate(
    file: File,
    add_age: Annotated[
        list[str] | None, typer.Option("--add-age", help="Recipient(s) to add.")
    ] = None,
    rm_age: Annotated[
        list[str] | None, typer.Option("--rm-age", help="Recipient(s) to remove.")
    ] = None,
    key_file: KeyFile = None,
    output: Output = None,
    input_type: InputType = None,
) -> None:
    """Re-encrypt FILE with a new data key, optionally changing its recipients."""
    from gitcops.secrets import sops

    fmt = _format(file, input_type)
    identities, tried = _identities(key_file)
    data = sops.rotate(
        _read(file),
        fmt,
        identities,
        add=add_age or (),
        remove=rm_age or (),
        source=str(file),
        tried=tried,
    )
    _write(file, data, output, "rotated the data key of {path}")


@secrets_app.command()
@handle_errors
def keygen(
    output: Annotated[Path, typer.Option("--output", help="The key file to create (mode 0600).")],
) -> None:
    """Create an age identity in a new key file; print its recipient (the public key)."""
    from gitcops.secrets.age import generate_identity, identity_recipient

    identity = generate_identity()
    recipient = identity_recipient(identity)
    output.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    # O_EXCL: never overwrite a key; a lost identity is every file encrypted for it lost.
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(f"# public key: {recipient}\n{identity}\n")
    sys.stdout.write(recipient + "\n")
    err(f"wrote an age identity to {output}; keep it out of Git and back it up")


def _editor() -> list[str]:
    command = os.environ.get("SOPS_EDITOR") or os.environ.get("EDITOR") or "vi"
    return shlex.split(command)


@secrets_app.command()
@handle_errors
def edit(file: File, key_file: KeyFile = None, input_type: InputType = None) -> None:
    """Open FILE decrypted in $SOPS_EDITOR or $EDITOR; re-encrypt it if it changed.

    The plaintext lives in a private temporary directory only while the editor runs.
    """
    from gitcops.secrets import sops

    fmt = _format(file, input_type)
    identities, tried = _identities(key_file)
    original = _read(file)
    plain = sops.decrypt_to_text(original, fmt, identities, source=str(file), tried=tried)
    with tempfile.TemporaryDirectory(prefix="gitcops-edit-") as private:
        os.chmod(private, 0o700)
        scratch = Path(private) / file.name
        fd = os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(plain)
        code = subprocess.call([*_editor(), str(scratch)])
        if code != 0:
            fail(f"the editor exited with {code}; {file} is unchanged")
        edited = scratch.read_bytes()
    if edited == plain:
        err(f"{file} is unchanged")
        return
    data = sops.reencrypt(original, fmt, edited, identities, source=str(file), tried=tried)
    _write(file, data, None, "re-encrypted {path}")
