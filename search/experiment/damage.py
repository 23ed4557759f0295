"""A damaged file of an experiment, refused in one line naming it and what to do; imports
nothing heavy, so that predict and export check what they read as --resume does.

    check_json(experiment / BEST, shape=("answer",))     # or UserError
"""

from __future__ import annotations

import json
from pathlib import Path

from trainable.errors import UserError

BACK = "put it back from a copy of the experiment folder, or start a new --name"


def damaged(path: Path, why: str) -> UserError:
    why = " ".join(why.split())  # a reader's message may span lines; the refusal is one
    return UserError(f"{path} is damaged ({why}); {BACK}")


def check_json(path: Path, shape: tuple[str, ...] = ()) -> dict:
    """A JSON object (with an object under each key of `shape`), returned."""
    try:
        value = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise UserError(f"{path} is missing; {BACK}") from None
    except (OSError, ValueError) as e:  # UnicodeDecodeError and JSONDecodeError among them
        raise damaged(path, f"not JSON: {str(e)[:80]}") from None
    wanted = f"an object with {', '.join(shape)}" if shape else "a JSON object"
    if not (isinstance(value, dict) and all(isinstance(value.get(k), dict) for k in shape)):
        raise damaged(path, f"not {wanted}")
    return value
