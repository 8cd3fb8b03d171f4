# -*- coding: utf-8 -*-
"""Logging as ModelArts' inference code uses it.

ModelArts examples write either ``import log`` or ``import model_service.log as log``
and then ``logger = log.getLogger(__name__)``. Records go to standard error (the
service's log). The level is WARNING unless ``WF_MODEL_LOG_LEVEL`` says otherwise
(ModelArts' runtime, too, shows only warnings and above by default).
"""
import logging
import os
import sys
import threading

_lock = threading.Lock()
_configured = False

DEBUG = logging.DEBUG
INFO = logging.INFO
WARNING = logging.WARNING
WARN = logging.WARNING
ERROR = logging.ERROR
CRITICAL = logging.CRITICAL


def _level_from_env():
    name = os.environ.get("WF_MODEL_LOG_LEVEL", "").strip().upper()
    if not name:
        return logging.WARNING
    if name.isdigit():
        return int(name)
    return getattr(logging, name, logging.WARNING)


def configure():
    """Install one stderr handler on the root logger (once)."""
    global _configured
    if _configured:
        return
    with _lock:
        if _configured:
            return
        root = logging.getLogger()
        if not root.handlers:
            handler = logging.StreamHandler(sys.stderr)
            handler.setFormatter(logging.Formatter(
                "%(asctime)s %(levelname)s %(name)s: %(message)s"))
            root.addHandler(handler)
        root.setLevel(_level_from_env())
        _configured = True


def getLogger(name=None):
    configure()
    return logging.getLogger(name)


get_logger = getLogger
logger = getLogger("model_service")
