"""The store locator: nearest by great-circle distance, a default when the location is unknown."""

from pathlib import Path

import pytest

from activities.stores import StoreDirectory, great_circle_km
from workflows.events import Location


def test_great_circle_distance_tashkent_to_samarkand() -> None:
    assert great_circle_km(41.2995, 69.2401, 39.6542, 66.9597) == pytest.approx(267, abs=3)


@pytest.mark.parametrize(
    ("lat", "lon", "store_id"),
    [
        (39.66, 66.96, "sam-registan"),
        (41.28, 69.20, "tas-chilonzor"),
        (41.34, 69.29, "tas-amir-temur"),
        (42.0, 60.0, "nukus-central"),
    ],
)
def test_the_nearest_store_is_offered(lat: float, lon: float, store_id: str) -> None:
    store = StoreDirectory.load().nearest(Location(lat=lat, lon=lon))
    assert store.store_id == store_id
    assert store.distance_km is not None and store.distance_km < 100


def test_unknown_location_gets_the_default_store() -> None:
    assert StoreDirectory.load().nearest(None).store_id == "tas-amir-temur"


def test_a_directory_without_exactly_one_default_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    path.write_text('[[stores]]\nstore_id = "a"\nname = "A"\naddress = "x"\nlat = 1\nlon = 2\n')
    with pytest.raises(ValueError, match="exactly one store must be marked default"):
        StoreDirectory.load(path)


def test_two_stores_at_the_same_distance_do_not_break_the_lookup(tmp_path: Path) -> None:
    path = tmp_path / "stores.toml"
    same_mall = "lat = 41.3\nlon = 69.2\n"
    path.write_text(
        f'[[stores]]\nstore_id = "a"\nname = "A"\naddress = "Mall, floor 1"\n{same_mall}default = true\n'
        f'[[stores]]\nstore_id = "b"\nname = "B"\naddress = "Mall, floor 2"\n{same_mall}'
    )
    assert StoreDirectory.load(path).nearest(Location(lat=41.0, lon=69.0)).store_id in {"a", "b"}
