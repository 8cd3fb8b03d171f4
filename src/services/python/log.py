# -*- coding: utf-8 -*-
"""Top-level ``log`` module: ModelArts' PyTorch examples write ``import log`` and
``logger = log.getLogger(__name__)``. Same as ``model_service.log``."""
from model_service.log import (  # noqa: F401
    CRITICAL, DEBUG, ERROR, INFO, WARN, WARNING, configure, getLogger, get_logger, logger)
