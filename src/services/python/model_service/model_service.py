# -*- coding: utf-8 -*-
"""Base classes of ModelArts inference code (``model_service.model_service``).

A model's ``customize_service.py`` derives one class from a base service and
overrides ``_preprocess``, ``_inference`` and/or ``_postprocess``. The server
builds it once, as ModelArts does, with ``cls(model_name, model_path)`` (or
``cls(model_path)`` for the machine-learning bases), then answers every request
with ``service.inference(data)``, which chains
``_postprocess(_inference(_preprocess(data)))``.

``data`` is, as on ModelArts:

* for an ``application/json`` body, the parsed JSON (usually a dict);
* for a ``multipart/form-data`` body, a dict with one entry per form field: a
  file field maps its file names to file-like objects
  (``{"images": {"cat.jpg": <BytesIO>}}``), a plain field maps to its text.

Constructors never need to call ``super().__init__``: ``model_name``,
``model_path`` (and ``model`` for the deep-learning bases) exist as class
attributes, and the server fills in the first two if the constructor did not.
"""
import logging
import time

from . import log

logger = log.getLogger(__name__)


class ModelService(object):
    """Root of every base service (ModelArts: ``ModelService``).

    ModelArts declares these methods abstract with the Python 2 spelling
    ``__metaclass__ = ABCMeta``, which Python 3 ignores: a subclass need not
    override any of them. The same holds here.
    """

    # Filled in by the constructor, or by the server when a constructor skips it.
    model_name = None
    model_path = None

    # How the server builds and feeds this service (wf internals, not ModelArts API):
    #   _wf_model_path: "dir"   -> model_path is the folder holding customize_service.py
    #                   "file"  -> model_path is the model file in that folder (.pth, .m, ...)
    #                   "spark" -> model_path is the saved Spark model folder inside it
    #   _wf_raw_body:   True    -> data is the request body as a str (ModelArts' ML runtimes)
    #   _wf_wrap_response: True -> the answer is {"data": {"resp_data": result}} (+ "meta")
    _wf_model_path = "dir"
    _wf_raw_body = False
    _wf_wrap_response = False

    def __init__(self, *args):
        # ModelArts: __init__(self, model_name, model_path) for deep-learning
        # bases and __init__(self, model_path) for machine-learning ones.
        self.ctx = None
        if len(args) >= 2:
            self.model_name, self.model_path = args[0], args[1]
        elif len(args) == 1:
            self.model_path = args[0]

    def inference(self, data):
        raise NotImplementedError(
            "%s must implement inference(data) or derive from SingleNodeService"
            % type(self).__name__)

    def ping(self):
        """Health of the service; ModelArts answers health checks without it."""
        return None

    def signature(self):
        return None


# The ModelArts documentation calls the root class "BaseService".
BaseService = ModelService


class SingleNodeService(ModelService):
    """A service around one model (ModelArts: ``SingleNodeService``; the MindSpore base)."""

    def inference(self, data):
        if not logger.isEnabledFor(logging.INFO):
            return self._postprocess(self._inference(self._preprocess(data)))
        t0 = time.time()
        data = self._preprocess(data)
        t1 = time.time()
        data = self._inference(data)
        t2 = time.time()
        data = self._postprocess(data)
        t3 = time.time()
        logger.info("preprocess time: %.3fms", (t1 - t0) * 1000)
        logger.info("infer time: %.3fms", (t2 - t1) * 1000)
        logger.info("postprocess time: %.3fms", (t3 - t2) * 1000)
        logger.info("latency: %.3fms", (t3 - t0) * 1000)
        return data

    def _preprocess(self, data):
        return data

    def _inference(self, data):
        return data

    def _postprocess(self, data):
        return data


class CloudOnlyError(RuntimeError):
    """Raised by a base-class behaviour that exists only on ModelArts' cloud runtime."""
