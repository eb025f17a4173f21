"""Where the package's MJCF assets are, installed or in a source checkout."""

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def assets_dir() -> Path:
    """Folder holding the MJCF models.

    An installed package carries them as ``muscle_envs/assets`` (setup.cfg maps the repository's
    top-level ``assets/`` there); a source checkout or editable install reads ``assets/`` directly.
    """
    for candidate in (_PACKAGE_DIR / "assets", _PACKAGE_DIR.parent / "assets"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"muscle_envs assets not found next to {_PACKAGE_DIR}; reinstall the package")


def asset_path(name: str) -> Path:
    """Path of model ``name`` (``"arm4"`` or ``"arm4.xml"``), with a clear error if it does not exist."""
    filename = name if name.endswith(".xml") else f"{name}.xml"
    path = assets_dir() / filename
    if not path.is_file():
        available = sorted(p.stem for p in assets_dir().glob("*.xml"))
        raise FileNotFoundError(f"no model asset {filename!r}; available: {available}")
    return path
