"""The Chainlit chat page, mounted at /ui on the API's FastAPI app (`society ui`): one port
for the page and the API, one conversation for both."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from society.paths import settings_dir

HERE = Path(__file__).parent
PAGE_PATH = "/ui"


def prepare_page() -> None:
    """Chainlit reads its settings at import time from the folder in CHAINLIT_APP_ROOT and
    writes uploads and translations there, so that folder is in the data folder (the package
    stays read-only) and is set before chainlit is imported. Once per server: several
    workers inherit it (and the login cookie's secret, so any worker accepts a login)."""
    root = settings_dir() / "ui"
    (root / ".chainlit").mkdir(parents=True, exist_ok=True)
    # Copied at each start so an upgrade's settings apply.
    shutil.copyfile(HERE / "config.toml", root / ".chainlit" / "config.toml")
    shutil.copyfile(HERE / "chainlit.md", root / "chainlit.md")
    # Chainlit looks for chainlit_<the browser's language>.md exactly: "ja-JP" in a Japanese
    # browser, "ja" in some others; both get the Japanese welcome.
    for japanese in ("ja", "ja-JP"):
        shutil.copyfile(HERE / "chainlit_ja.md", root / f"chainlit_{japanese}.md")
    (root / "public" / "elements").mkdir(parents=True, exist_ok=True)
    shutil.copyfile(HERE / "society.css", root / "public" / "society.css")
    for element in (HERE / "elements").glob("*.jsx"):  # the page's own elements (the Monitoring panel)
        shutil.copyfile(element, root / "public" / "elements" / element.name)
    os.environ["CHAINLIT_APP_ROOT"] = str(root)
    # Signs the login cookie when the page asks for the API token; a fresh one per start
    # only means logging in again after a restart.
    os.environ.setdefault("CHAINLIT_AUTH_SECRET", secrets.token_urlsafe(32))


def mount_page(app, prepared: bool = False) -> None:
    """Mount the page on `app` (prepared first unless the serving process did)."""
    if not prepared:
        prepare_page()
    from chainlit.utils import mount_chainlit

    mount_chainlit(app=app, target=str(HERE / "app.py"), path=PAGE_PATH)
