"""One way to connect to Temporal, with the pydantic data converter every part must share."""

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from workers.settings import Settings


async def connect(settings: Settings) -> Client:
    return await Client.connect(settings.temporal_address, namespace=settings.namespace, data_converter=pydantic_data_converter)
