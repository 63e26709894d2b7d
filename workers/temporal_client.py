"""One way to connect to Temporal, with the pydantic data converter every part must share.

Plain gRPC to a local or self-hosted cluster by default; mTLS with a client certificate
(`RECOVERY_TEMPORAL_TLS_CERT`/`_KEY`, optional `_CA`), or an API key for Temporal Cloud
(`RECOVERY_TEMPORAL_API_KEY`, TLS on).
"""

from temporalio.client import Client, TLSConfig
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.runtime import Runtime

from workers.settings import Settings


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
        data_converter=pydantic_data_converter,
        tls=tls_config(settings),
        api_key=settings.temporal_api_key,
        runtime=runtime,
    )
