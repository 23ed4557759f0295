"""Paths of the real data in ../shared/data (IMBALANCE_DATA_DIR overrides)."""

import os
from pathlib import Path

DATA_DIR = Path(os.environ.get("IMBALANCE_DATA_DIR", Path(__file__).parents[2] / "shared" / "data"))
PNEUMONIAMNIST = DATA_DIR / "pneumoniamnist" / "pneumoniamnist.npz"
CHEST_XRAY = DATA_DIR / "chest_xray"
