"""One way to connect to Temporal, with the one data converter every part must share: pydantic
payloads sealed by the encryption codec (core/payload_codec.py), keys from settings.

Plain gRPC to a local or self-hosted cluster by default; mTLS with a client certificate
(`RECOVERY_TEMPORAL_TLS_CERT`/`_KEY`, optional `_CA`), or an API key for Temporal Cloud
(`RECOVERY_TEMPORAL_API_KEY`, TLS on).
"""

import dataclasses

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter
from temporalio.runtime import Runtime

from core.payload_codec import EncryptionCodec, PayloadKeyError, PayloadKeys, parse_payload_keys
from core.settings import Settings


class PayloadKeysMissing(PayloadKeyError):
    """No key to seal payloads with: nothing may reach Temporal in plain text, so nothing connects."""


def payload_keys(settings: Settings) -> PayloadKeys:
    """`RECOVERY_PAYLOAD_KEYS`, else `RECOVERY_PAYLOAD_KEY_FILE`, else `<data dir>/payload-keys` if it exists."""
    if settings.payload_keys:
        return parse_payload_keys(settings.payload_keys)
    path = settings.payload_key_file or settings.default_payload_key_file
    if settings.payload_key_file is None and not path.exists():
        raise PayloadKeysMissing(
            "no payload keys: set RECOVERY_PAYLOAD_KEYS or RECOVERY_PAYLOAD_KEY_FILE "
            "(`recovery up` makes one in its data folder)"
        )
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise PayloadKeysMissing(f"RECOVERY_PAYLOAD_KEY_FILE: cannot read {path}: {err.strerror or err}") from None
    try:
        return parse_payload_keys(text)
    except PayloadKeyError as err:
        raise PayloadKeyError(f"payload key file {path}: {err}") from None


def data_converter_for(keys: PayloadKeys) -> DataConverter:
    """The pydantic converter with the encryption codec: for clients, workers, replayers and tests alike."""
    return dataclasses.replace(pydantic_data_converter, payload_codec=EncryptionCodec(keys))


def data_converter(settings: Settings) -> DataConverter:
    return data_converter_for(payload_keys(settings))


def tls_config(settings: Settings) -> TLSConfig | bool:
    """TLS for the connection: a config when certificates are given, True for an API key alone, else off."""
    ca = settings.temporal_tls_ca.read_bytes() if settings.temporal_tls_ca else None
    if settings.temporal_tls_cert and settings.temporal_tls_key:
        return TLSConfig(
            client_cert=settings.temporal_tls_cert.read_bytes(),
            client_private_key=settings.temporal_tls_key.read_bytes(),
            server_root_ca_cert=ca,
        )
    if ca is not None:
        return TLSConfig(server_root_ca_cert=ca)
    return bool(settings.temporal_api_key)


async def connect(settings: Settings, runtime: Runtime | None = None) -> Client:
    """`runtime`: the worker's, when it exports metrics (see workers/metrics.py); None: the SDK's default."""
    return await Client.connect(
        settings.temporal_address,
        namespace=settings.namespace,
        data_converter=data_converter(settings),
        tls=tls_config(settings),
        api_key=settings.temporal_api_key,
        runtime=runtime,
    )
