"""Make the HTCondor bindings authenticate with the IDTOKEN SkyDriver hands over in the environment."""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import htcondor2

LOGGER = logging.getLogger(__name__)

TOKEN_ENV = "CONDOR_TOKEN"
TOKEN_FILE_NAME = "skydriver"


def install_idtoken(token: str, directory: Path | None = None) -> Path:
    """Write ``token`` (mode 0600) into a token directory and point the bindings at it; return the file.

    htcondor2 reads ``_CONDOR_*`` variables only when it loads its configuration (at import), so the
    variable is set and the configuration reloaded.
    """
    token = token.strip()
    if not token:
        raise ValueError(f"{TOKEN_ENV} is empty: there is no IDTOKEN to authenticate with")
    directory = directory or Path(tempfile.mkdtemp(prefix="condor-tokens-"))
    token_file = directory / TOKEN_FILE_NAME
    fd = os.open(token_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    token_file.chmod(0o600)  # O_CREAT's mode does not apply to a file that already existed
    os.environ["_CONDOR_SEC_TOKEN_DIRECTORY"] = str(directory)
    htcondor2.reload_config()
    LOGGER.info("HTCondor IDTOKEN installed in %s", directory)
    return token_file


def install_idtoken_from_env() -> Path | None:
    """Install ``$CONDOR_TOKEN`` when set; otherwise leave the bindings' own configuration alone."""
    token = os.environ.get(TOKEN_ENV, "")
    if not token.strip():
        LOGGER.warning("%s is not set: using HTCondor's configured credentials", TOKEN_ENV)
        return None
    return install_idtoken(token)
