"""Puts the repository's conf/ (the configs a researcher edits) on Hydra's search path ahead of the package's.

Hydra finds this plugin through the `hydra_plugins` namespace package. It acts only on searches that hold the
package's own configs (every dfl-* app, and compose() over them), and only where the folder exists: a
checkout's `conf/` beside `deepfake_lightning/`, or the folder `DFL_CONF` names. An installed wheel has no
such folder and runs on the package's defaults alone.
"""

from __future__ import annotations

import os
from pathlib import Path

from hydra.core.config_search_path import ConfigSearchPath
from hydra.plugins.search_path_plugin import SearchPathPlugin

PACKAGE_CONF = "pkg://deepfake_lightning.conf"
PROVIDER = "deepfake-lightning-research-conf"


def research_conf() -> Path | None:
    """DFL_CONF, else the checkout's conf/ (beside the deepfake_lightning package); None when neither exists."""
    if os.environ.get("DFL_CONF"):
        return Path(os.environ["DFL_CONF"]).expanduser().resolve()
    import deepfake_lightning

    folder = Path(deepfake_lightning.__file__).resolve().parents[1] / "conf"
    return folder if folder.is_dir() else None


class ResearchConfSearchPath(SearchPathPlugin):
    """Prepends the research conf/ when a search path holds deepfake_lightning's configs."""

    def manipulate_search_path(self, search_path: ConfigSearchPath) -> None:
        package_dir = str(Path(__file__).resolve().parents[2] / "deepfake_lightning" / "conf")
        ours = any(
            e.path == PACKAGE_CONF
            or (e.path or "").rstrip("/").endswith("deepfake_lightning/conf")
            or e.path == package_dir
            for e in search_path.get_path()
        )
        if any(e.provider == PROVIDER for e in search_path.get_path()) or not ours:
            return
        folder = research_conf()
        if folder is not None and folder.is_dir():
            search_path.prepend(provider=PROVIDER, path=f"file://{folder}")
