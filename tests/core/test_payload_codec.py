"""The codec without a server: what it seals, what it leaves alone, and keys that cannot be used."""

import stat
from pathlib import Path

import pytest
from temporalio.api.common.v1 import Payload

from core.payload_codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadDecryptError,
    PayloadKeyError,
    create_key_file,
    parse_payload_keys,
)
from core.settings import Settings
from core.temporal_client import PayloadKeysMissing, payload_keys
from starters.embedded_stack import payload_key_env
from tests.payload_keys import TEST_KEY_1, TEST_KEY_2, keys_for_tests

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"lat": 39.66}')


async def test_seals_with_the_first_key_and_opens_with_any() -> None:
    [sealed] = await EncryptionCodec(keys_for_tests(f"{TEST_KEY_2},{TEST_KEY_1}")).encode([PLAIN])
    assert sealed.metadata["encoding"] == ENCODING and sealed.metadata[KEY_ID_METADATA] == b"test-2"
    assert b"39.66" not in sealed.SerializeToString()
    assert await EncryptionCodec(keys_for_tests(f"{TEST_KEY_1},{TEST_KEY_2}")).decode([sealed]) == [PLAIN]


async def test_plain_payloads_pass_through_and_unknown_keys_say_which() -> None:
    codec = EncryptionCodec(keys_for_tests(TEST_KEY_1))
    assert await codec.decode([PLAIN]) == [PLAIN]  # old histories stay readable
    [sealed] = await EncryptionCodec(keys_for_tests(TEST_KEY_2)).encode([PLAIN])
    with pytest.raises(PayloadDecryptError, match="test-2") as refused:
        await codec.decode([sealed])
    assert "39.66" not in str(refused.value)
    tampered = Payload(metadata={"encoding": ENCODING, KEY_ID_METADATA: b"test-1"}, data=sealed.data)  # relabelled
    with pytest.raises(PayloadDecryptError, match="does not open"):
        await codec.decode([tampered])


def test_bad_keys_are_named_never_quoted() -> None:
    for text, problem in (
        ("", "no keys"),
        ("k1", "not id:base64key"),
        ("k1:!!!", "not valid base64"),
        ("k1:AAAA", "3 bytes"),
        (f"{TEST_KEY_1},{TEST_KEY_1}", "twice"),
    ):
        with pytest.raises(PayloadKeyError, match=problem) as err:
            parse_payload_keys(text)
        assert TEST_KEY_1.split(":")[1] not in str(err.value)


def test_key_file_is_private_kept_and_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECOVERY_PAYLOAD_KEYS", raising=False)
    with pytest.raises(PayloadKeysMissing):
        payload_keys(Settings(data_dir=tmp_path))
    env = payload_key_env(tmp_path)  # what `recovery up` does on first use
    key_file = Path(env["RECOVERY_PAYLOAD_KEY_FILE"])
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    first = key_file.read_text()
    assert payload_key_env(tmp_path) == env and key_file.read_text() == first  # never replaced
    assert payload_keys(Settings(data_dir=tmp_path)).encrypting.startswith("k-")
    create_key_file(key_file)
    assert key_file.read_text() == first
