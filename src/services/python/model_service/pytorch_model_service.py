# -*- coding: utf-8 -*-
"""``model_service.pytorch_model_service``: the PyTorch base service.

As on ModelArts, a PyTorch service must load its model in its own ``__init__``
(``self.model = ...``); ``model_path`` is the model file found in the model
folder (``*.pth``, ``*.pt``, ...), so the usual
``os.path.dirname(os.path.realpath(self.model_path))`` is the model folder.
This module does not import torch; it uses torch only if the model's code did.
"""
import contextlib
import sys

from . import log
from .model_service import SingleNodeService

logger = log.getLogger(__name__)


class PTServingBaseService(SingleNodeService):
    model = None
    _wf_model_path = "file"

    def __init__(self, model_name, model_path):
        self.model_name = model_name
        self.model_path = model_path
        self.model = None

    def _preprocess(self, data):
        return data

    def _inference(self, data):
        if self.model is None:
            raise RuntimeError(
                "%s has no model: a PyTorch service loads it in __init__ "
                "(self.model = ...), as ModelArts requires" % type(self).__name__)
        torch = sys.modules.get("torch")
        guard = torch.no_grad() if torch is not None else contextlib.nullcontext()
        result = {}
        with guard:
            for k, v in data.items():
                result[k] = self.model(v)
        return result

    def _postprocess(self, data):
        return data

    def ping(self):
        return None

    def signature(self):
        return None
