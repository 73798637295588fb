"""The design's Shop Buddy blueprint, in one file: the OpenAPI document's examples, the tests, the bench and the
README's walk-through all read `shop-buddy.json` here."""

import json
from pathlib import Path
from typing import Any, Final

SHOP_BUDDY_FILE: Final = Path(__file__).parent / "shop-buddy.json"


def shop_buddy() -> dict[str, Any]:
    """A fresh copy, to change at will."""
    doc: dict[str, Any] = json.loads(SHOP_BUDDY_FILE.read_text(encoding="utf-8"))
    return doc


SHOP_BUDDY: Final = shop_buddy()  # read once, at import: a missing file fails then, not on a request
