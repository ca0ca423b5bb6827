#!/usr/bin/env python3
"""Validate STAC 1.1 Items (or Collections) offline against the JSON schemas PySTAC ships: the core spec, GeoJSON,
and every extension schema its `pystac-ext-*` packages carry (projection, raster, eo, classification, mlm, …).
Nothing is fetched: an extension without a local schema is reported as not checked (processing has none).

usage: validate-stac.py FILE...    prints per file `valid` or the errors, and `not checked: URL`; exit 1 on errors
Needs the project venv (scripts/python-env.sh): pystac, jsonschema, referencing."""
import json
import re
import sys
from importlib.resources import files

from jsonschema import Draft7Validator
from jsonschema.exceptions import best_match
from referencing import Registry, Resource

PYSTAC = files("pystac")
CORE = "https://schemas.stacspec.org/v1.1.0/{}-spec/json-schema/"
EXTENSION = "https://stac-extensions.github.io/{}/{}/schema.json"


def registry() -> Registry:
    """Every local schema under the URL documents refer to it by (not its `$id`, which some files get wrong)."""
    resources = []
    core = PYSTAC / "validation/jsonschemas/stac-spec/v1.1.0"
    for path in core.iterdir():
        if path.name.endswith(".json"):
            spec = {"catalog.json": "catalog", "collection.json": "collection"}.get(path.name, "item")
            resources.append((CORE.format(spec) + path.name, path))
    for name in ("Feature", "Geometry", "FeatureCollection"):
        path = PYSTAC / f"validation/jsonschemas/geojson/{name}.json"
        if path.is_file():
            resources.append((f"https://geojson.org/schema/{name}.json", path))
    extensions = PYSTAC / "extensions/json-schema"
    if extensions.is_dir():
        for folder in extensions.iterdir():
            for path in folder.iterdir() if folder.is_dir() else []:
                if re.fullmatch(r"v\d+\.\d+\.\d+\.json", path.name):
                    url_name = folder.name.replace("_", "-")
                    resources.append((EXTENSION.format(url_name, path.name[:-5]), path))
    return Registry().with_resources(
        (url, Resource.from_contents(json.loads(path.read_text()))) for url, path in resources)


def validate(document: dict, reg: Registry) -> tuple[list[str], list[str]]:
    """The errors, and the extensions not checked (no local schema)."""
    kind = {"Feature": "item", "Collection": "collection", "Catalog": "catalog"}.get(document.get("type"), "item")
    errors, unchecked = [], []
    for url in [CORE.format(kind) + f"{kind}.json", *document.get("stac_extensions", [])]:
        try:
            schema = reg.contents(url)
        except Exception:  # noqa: BLE001 - any lookup failure means no local copy
            unchecked.append(url)
            continue
        error = best_match(Draft7Validator(schema, registry=reg).iter_errors(document))
        if error is not None:
            errors.append(f"{url}: {error.json_path}: {error.message[:300]}")
    return errors, unchecked


def main() -> int:
    reg = registry()
    failed = False
    for name in sys.argv[1:]:
        with open(name, encoding="utf-8") as f:
            errors, unchecked = validate(json.load(f), reg)
        for url in unchecked:
            print(f"{name}: not checked: {url}")
        for error in errors:
            print(f"{name}: {error}")
        if not errors:
            print(f"{name}: valid")
        failed |= bool(errors)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
