# -*- coding: utf-8 -*-
"""``model_service.tfserving_model_service``: the TensorFlow base service.

On ModelArts the built-in ``_inference`` sends ``data`` (a dict of input name ->
value) to a TensorFlow Serving process. Locally it loads the SavedModel in the
model folder (``saved_model.pb`` + ``variables/``) with TensorFlow on first use
and calls its serving signature, answering a dict of output name -> list.
TensorFlow is imported only then; services that override ``_inference`` (the
ModelArts "custom inference logic" pattern, loading a session in ``__init__``)
never touch this code.
"""
import threading

from . import log
from .model_service import SingleNodeService

logger = log.getLogger(__name__)
_LOAD_LOCK = threading.Lock()


class TfServingBaseService(SingleNodeService):
    _wf_model_path = "dir"

    def __init__(self, model_name, model_path):
        self.model_name = model_name
        self.model_path = model_path
        self.model_inputs = {}
        self.model_outputs = {}

    def _preprocess(self, data):
        return data

    def _postprocess(self, data):
        return data

    def _wf_signature(self):
        sig = self.__dict__.get("_wf_tf_signature")
        if sig is not None:
            return sig
        with _LOAD_LOCK:
            sig = self.__dict__.get("_wf_tf_signature")
            if sig is not None:
                return sig
            try:
                import tensorflow as tf  # noqa: only when the built-in inference runs
            except ImportError as e:
                raise RuntimeError(
                    "TfServingBaseService's built-in inference needs TensorFlow "
                    "(pip install tensorflow) to run the SavedModel in %s locally; on "
                    "ModelArts it calls a TF Serving process instead (%s)"
                    % (self.model_path, e))
            loaded = tf.saved_model.load(self.model_path)
            signatures = dict(loaded.signatures)
            if not signatures:
                raise RuntimeError("the SavedModel in %s has no signatures" % self.model_path)
            if len(signatures) == 1:
                name = next(iter(signatures))
            else:
                name = "serving_default"
                if name not in signatures:
                    raise RuntimeError(
                        "the SavedModel in %s has several signatures %s and no "
                        "serving_default" % (self.model_path, sorted(signatures)))
            sig = signatures[name]
            self._wf_tf_module = tf
            self._wf_tf_loaded = loaded  # keeps the signature's variables alive
            self._wf_tf_signature = sig
            logger.info("model signature: %s", name)
            return sig

    def _inference(self, data):
        sig = self._wf_signature()
        tf = self._wf_tf_module
        feed = {}
        for k, v in data.items():
            spec = sig.structured_input_signature[1].get(k)
            if spec is None:
                raise KeyError("input key %s is not in model inputs %s"
                               % (k, sorted(sig.structured_input_signature[1])))
            feed[k] = tf.constant(v, dtype=spec.dtype)
        outputs = sig(**feed)
        return {k: v.numpy().tolist() for k, v in outputs.items()}

    def ping(self):
        return None

    def signature(self):
        return None

