"""Encryption of every Temporal payload (AES-256-GCM), so personal data is never stored in plain text.

Journeys carry texts, locations and time zones; Temporal stores them in its history, and anyone who
reads the database or calls the frontend would read them too. Each payload is sealed with one key,
named in its metadata, so several keys can be live at once: one encrypts, all of them decrypt, and a
key rotates without breaking the journeys that started under the old one. A payload the codec did not
seal (an old plain history, a test fixture) passes through unchanged, so saved histories replay.
"""

import base64
import binascii
import os
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.converter import PayloadCodec

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
KEY_FILE = "payload-keys"
KEY_BYTES = 32  # AES-256
NONCE_BYTES = 12
KEY_ID_PATTERN = re.compile(r"[A-Za-z0-9_.-]{1,64}")


class PayloadKeyError(ValueError):
    """Keys that cannot be used: the message names the problem, never a key."""


class PayloadDecryptError(ValueError):
    """A sealed payload this process cannot open: its key is unknown here, or it was altered."""


@dataclass(frozen=True)
class PayloadKeys:
    """Named 256-bit keys; `encrypting` names the one new payloads are sealed with."""

    keys: dict[str, bytes]
    encrypting: str

    def __post_init__(self) -> None:
        if self.encrypting not in self.keys:
            raise PayloadKeyError(f"the encrypting key {self.encrypting!r} is not among the keys")
        for key_id, key in self.keys.items():
            if not KEY_ID_PATTERN.fullmatch(key_id):
                raise PayloadKeyError("a key id is 1-64 letters, digits, '_', '.' or '-'")
            if len(key) != KEY_BYTES:
                raise PayloadKeyError(f"key {key_id!r} is {len(key)} bytes; AES-256 takes {KEY_BYTES}")


def parse_payload_keys(text: str) -> PayloadKeys:
    """`id:base64key` entries, separated by commas or new lines; the FIRST one encrypts.

    First wins because rotating is then one edit at the front of the list: put the new key first,
    keep the old ones after it for as long as a history may need them. `#` starts a comment line.
    """
    entries = [
        entry.strip()
        for line in text.splitlines()
        if not line.strip().startswith("#")
        for entry in line.split(",")
        if entry.strip()
    ]
    if not entries:
        raise PayloadKeyError("no keys given: expected id:base64key[,id:base64key...]")
    keys: dict[str, bytes] = {}
    for position, entry in enumerate(entries, start=1):
        key_id, sep, encoded = entry.partition(":")
        key_id = key_id.strip()
        if not sep or not key_id or not encoded.strip():
            raise PayloadKeyError(f"entry {position} is not id:base64key")
        if key_id in keys:
            raise PayloadKeyError(f"key id {key_id!r} appears twice")
        try:
            keys[key_id] = base64.b64decode(encoded.strip(), validate=True)
        except (binascii.Error, ValueError):
            raise PayloadKeyError(f"key {key_id!r} is not valid base64") from None
    return PayloadKeys(keys, encrypting=next(iter(keys)))


def new_key_entry(key_id: str | None = None) -> str:
    """A fresh `id:base64key` line, for a key file or RECOVERY_PAYLOAD_KEYS."""
    key_id = key_id or f"k-{secrets.token_hex(4)}"
    return f"{key_id}:{base64.b64encode(AESGCM.generate_key(bit_length=256)).decode()}"


def create_key_file(path: Path) -> None:
    """A key file with one new key, readable by its owner only; never overwrites an existing one.

    Written to a private draft and linked into place, so two processes starting at once agree on one key.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as file:
        file.write("# Temporal payload keys: id:base64key, the first line encrypts, every line decrypts.\n")
        file.write(new_key_entry() + "\n")
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM over each serialized payload; the key id is both in the metadata and bound as
    associated data, so a payload relabelled with another key id fails to open instead of misreading."""

    def __init__(self, keys: PayloadKeys) -> None:
        super().__init__()
        self._ciphers = {key_id: AESGCM(key) for key_id, key in keys.keys.items()}
        self._encrypting = keys.encrypting

    @property
    def encrypting_key_id(self) -> str:
        return self._encrypting

    @property
    def key_ids(self) -> Sequence[str]:
        return tuple(self._ciphers)

    async def encode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [self._seal(payload) for payload in payloads]

    async def decode(self, payloads: Iterable[Payload]) -> list[Payload]:
        return [
            self._open(payload) if payload.metadata.get("encoding") == ENCODING else payload for payload in payloads
        ]

    def _seal(self, payload: Payload) -> Payload:
        key_id = self._encrypting.encode()
        nonce = os.urandom(NONCE_BYTES)
        sealed = nonce + self._ciphers[self._encrypting].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id}, data=sealed)

    def _open(self, payload: Payload) -> Payload:
        key_id = payload.metadata.get(KEY_ID_METADATA, b"").decode(errors="replace")
        cipher = self._ciphers.get(key_id)
        if cipher is None:
            raise PayloadDecryptError(
                f"payload sealed with key {key_id!r}, which this process does not have "
                f"(keys: {', '.join(self._ciphers)})"
            )
        try:
            plain = cipher.decrypt(payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:], key_id.encode())
        except InvalidTag:
            raise PayloadDecryptError(
                f"payload sealed with key {key_id!r} does not open: altered, or another key of that id"
            ) from None
        return Payload.FromString(plain)
