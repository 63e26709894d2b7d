"""The store locator: the nearest store to the customer, for the SMS that offers activation in person."""

import math
import tomllib
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator
from temporalio import activity

from core.settings import DEFAULT_STORE_DIRECTORY
from workflows.contracts import Store, StoreQuery
from workflows.events import Location

EARTH_RADIUS_KM = 6371.0088


class _StoreEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    store_id: str = Field(min_length=1)
    name: str = Field(min_length=1)
    address: str = Field(min_length=1)
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    default: bool = False


class StoreDirectory(BaseModel):
    stores: list[_StoreEntry] = Field(min_length=1)

    @model_validator(mode="after")
    def _one_default(self) -> "StoreDirectory":
        if sum(s.default for s in self.stores) != 1:
            raise ValueError("exactly one store must be marked default = true")
        return self

    @classmethod
    def load(cls, path: Path = DEFAULT_STORE_DIRECTORY) -> "StoreDirectory":
        try:
            return cls.model_validate(tomllib.loads(Path(path).read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise ValueError(f"store directory {path} does not exist") from None
        except (tomllib.TOMLDecodeError, ValidationError) as exc:
            raise ValueError(f"store directory {path} is invalid: {exc}") from None

    def nearest(self, location: Location | None) -> Store:
        if location is None:
            entry = next(s for s in self.stores if s.default)
            return Store(store_id=entry.store_id, name=entry.name, address=entry.address, lat=entry.lat, lon=entry.lon)
        distance, entry = min(
            ((great_circle_km(location.lat, location.lon, s.lat, s.lon), s) for s in self.stores),
            key=lambda pair: pair[0],
        )
        return Store(
            store_id=entry.store_id,
            name=entry.name,
            address=entry.address,
            lat=entry.lat,
            lon=entry.lon,
            distance_km=round(distance, 1),
        )


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Haversine distance: accurate to well under a percent at city scale, which is all a store offer needs."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(d_phi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


class StoreActivities:
    def __init__(self, directory: StoreDirectory) -> None:
        self._directory = directory

    @activity.defn
    async def find_nearest_store(self, query: StoreQuery) -> Store:
        return self._directory.nearest(query.location)
