"""Where Segue keeps what it makes when not told where: never the working directory.

Run from a source checkout (a `pyproject.toml` beside `src/segue`), prepared data and trained
models go to the checkout's `data/` and `models/` folders, where the bundled corpus and the
training checkpoints live. Installed as a package, they go to `$XDG_DATA_HOME/segue` (by default
`~/.local/share/segue`). Every command takes an explicit path too.
"""

from __future__ import annotations

import os
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[2]


def segue_home() -> Path:
    if (CHECKOUT / "pyproject.toml").is_file() and (CHECKOUT / "src" / "segue").is_dir():
        return CHECKOUT
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "segue"


DATA_DIR = segue_home() / "data"
MODELS_DIR = segue_home() / "models"
