"""The tests' payload keys: fixed and public, so a failing test's history can be decoded by hand.

Every client of the suite (fixtures, benches, spawned workers and CLIs) seals payloads with them,
as production does with its own keys.
"""

import base64

from temporalio.converter import DataConverter

from core.payload_codec import PayloadKeys, parse_payload_keys
from core.temporal_client import data_converter_for

TEST_KEY_1 = f"test-1:{base64.b64encode(bytes(range(32))).decode()}"
TEST_KEY_2 = f"test-2:{base64.b64encode(bytes(range(32, 64))).decode()}"
TEST_PAYLOAD_KEYS = TEST_KEY_1


def keys_for_tests(text: str = TEST_PAYLOAD_KEYS) -> PayloadKeys:
    return parse_payload_keys(text)


def converter_for_tests(text: str = TEST_PAYLOAD_KEYS) -> DataConverter:
    return data_converter_for(keys_for_tests(text))
