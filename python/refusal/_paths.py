"""Where the package's data lives: punkt_tab (sentence mode) and the bundled default model.

The search mirrors the C++ library's ``find_data_file`` (src/base/data_files.cpp): first
``$REFUSAL_DATA_DIR``, then the ``data/`` folder installed inside this package (the wheel), then
what the C++ library finds itself (``<executable>/../share/refusal``, a build tree, the source
tree the extension was built from).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import List, Optional

from . import _refusal
from ._errors import RefusalError

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
DEFAULT_MODEL_RELATIVE = "models/default"


def _roots() -> List[Path]:
    roots = []
    env = os.environ.get("REFUSAL_DATA_DIR")
    if env:
        roots.append(Path(env))
    roots.append(PACKAGE_DATA)
    return roots


def find_data_file(relative: str) -> Optional[Path]:
    """The first existing ``relative`` path under the data folders, or None."""
    for root in _roots():
        if (root / relative).exists():
            return root / relative
    found = _refusal.find_data_file(relative)
    return Path(found) if found else None


def data_search_path() -> str:
    """The folders :func:`find_data_file` looks in, for messages."""
    places = [str(r) for r in _roots()]
    places.extend(p for p in _refusal.data_search_path().split(", ") if p and p not in places)
    return ", ".join(places)


def default_model_path() -> str:
    """The folder of the bundled default model (``data/models/default``).

    Raises:
        RefusalError: when no bundled model is installed, naming the places searched.
    """
    found = find_data_file(DEFAULT_MODEL_RELATIVE + "/config.json")
    if found is not None:
        return str(found.parent)
    raise RefusalError(
        f"no model given and the bundled default model ({DEFAULT_MODEL_RELATIVE}) is not "
        f"installed; looked in: {data_search_path()}. Pass model=DIR|HUB_ID (a folder from "
        "save_pretrained, or a hub id in the local Hugging Face cache), or set REFUSAL_DATA_DIR "
        "to the folder holding models/"
    )


def punkt_dir() -> str:
    """The punkt_tab/english folder for sentence mode ("" lets the C++ library search)."""
    found = find_data_file("punkt_tab/english")
    return str(found) if found is not None else ""


def model_or_default(model: "Optional[os.PathLike[str] | str]") -> str:
    """``model`` as a string, or the bundled model's folder when it is None (or "")."""
    if model is None:
        return default_model_path()
    text = os.fspath(model)
    if not isinstance(text, str):
        raise RefusalError(f"model: expected a folder or hub id (str), got {type(model).__name__}")
    return text if text else default_model_path()
