"""The evidence signing key: made by `warden keys evidence-init`, loaded when Warden starts."""

from __future__ import annotations

import base64
import binascii
import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
)

from proxy.audit.checkpoint import CheckpointSigner, decode_public_key, trusted_keys
from proxy.config import Settings

log = logging.getLogger(__name__)


def create_key_file(path: Path) -> CheckpointSigner:
    """A new Ed25519 key as PKCS#8 PEM, readable by its owner only. Never overwrites: the
    checkpoints an old key signed would verify only against its public half."""
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(pem)
        out.flush()
        os.fsync(out.fileno())
    return CheckpointSigner(key)


def parse_private_key(data: bytes) -> Ed25519PrivateKey:
    """PEM (what evidence-init writes), or base64 of the 32-byte seed (handy in env vars)."""
    text = data.strip()
    if text.startswith(b"-----BEGIN"):
        try:
            key = load_pem_private_key(text, password=None)
        except (ValueError, TypeError) as exc:
            raise ValueError(f"not a readable unencrypted PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise ValueError("the PEM key is not an Ed25519 key")
        return key
    try:  # standard or URL-safe alphabet
        seed = base64.b64decode(text.replace(b"-", b"+").replace(b"_", b"/"), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("expected a PEM key or base64 of a 32-byte Ed25519 seed") from exc
    if len(seed) != 32:
        raise ValueError("expected a PEM key or base64 of a 32-byte Ed25519 seed")
    return Ed25519PrivateKey.from_private_bytes(seed)


def signing_key_path(settings: Settings) -> Path | None:
    name = settings.audit.evidence.signing_key_file
    return Path(settings.base_dir) / name if name else None


def load_signer(settings: Settings) -> CheckpointSigner | None:
    """The configured key, or None when none is; ValueError saying what is wrong with it."""
    evidence = settings.audit.evidence
    path = signing_key_path(settings)
    if path is not None:
        try:
            data = path.read_bytes()
            mode = path.stat().st_mode
        except OSError as exc:
            raise ValueError(
                f"audit.evidence.signing_key_file: cannot read {path}: {exc.strerror} "
                "(create one with `warden keys evidence-init`)"
            ) from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            log.warning("evidence signing key %s is readable by others: chmod 600 it", path)
        try:
            return CheckpointSigner(parse_private_key(data))
        except ValueError as exc:
            raise ValueError(f"audit.evidence.signing_key_file {path}: {exc}") from exc
    if evidence.signing_key:
        try:
            return CheckpointSigner(parse_private_key(evidence.signing_key.encode()))
        except ValueError as exc:
            raise ValueError(f"audit.evidence.signing_key: {exc}") from exc
    return None


def trusted_public_keys(settings: Settings) -> dict[str, Ed25519PublicKey]:
    """What verification trusts: the signing key's public half and the retired keys'."""
    keys = [decode_public_key(text) for text in settings.audit.evidence.trusted_public_keys]
    signer = load_signer(settings)
    if signer is not None:
        keys.append(Ed25519PublicKey.from_public_bytes(signer.public_key))
    return trusted_keys(keys)
