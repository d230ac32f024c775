"""The web app: a JSON API over `segue.extend` and the page that plays, records and extends."""

from .app import create_app
from .settings import Settings

__all__ = ["Settings", "create_app"]
