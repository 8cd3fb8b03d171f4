# -*- coding: utf-8 -*-
"""``model_service.python_model_service``: the XGBoost / scikit-learn base service.

ModelArts' machine-learning runtime differs from the deep-learning one, and this
class keeps those differences:

* it is built as ``cls(model_path)``, where ``model_path`` is the model file
  (``*.m``, ``*.pkl``, ``*.joblib``, ...) in the model folder;
* ``data`` given to ``_preprocess`` is the request body as a *string* (ModelArts'
  examples call ``json.loads(data)`` themselves), in the shape
  ``{"data": {"req_data": [{"feature": value, ...}, ...]}}``;
* the answer is wrapped as ``{"data": {"resp_data": <result>}}``, with the
  request's ``"meta"`` copied back when it has one.

The built-in ``_inference`` loads the model with joblib (scikit-learn) or, failing
that, XGBoost, both imported only then.
"""
import collections
import json
import threading

from . import log
from .model_service import SingleNodeService

logger = log.getLogger(__name__)
_LOAD_LOCK = threading.Lock()


class XgSklServingBaseService(SingleNodeService):
    _wf_model_path = "file"
    _wf_raw_body = True
    _wf_wrap_response = True

    def __init__(self, model_path):
        self.model_path = model_path

    def _preprocess(self, data):
        json_data = json.loads(data, object_pairs_hook=collections.OrderedDict)
        list_data = []
        for element in json_data["data"]["req_data"]:
            list_data.append([element[each] for each in element])
        return list_data

    def _wf_model(self):
        model = self.__dict__.get("_wf_loaded_model")
        if model is not None:
            return model
        with _LOAD_LOCK:
            model = self.__dict__.get("_wf_loaded_model")
            if model is not None:
                return model
            errors = []
            try:
                import joblib
                model = ("sklearn", joblib.load(self.model_path))
            except Exception as e:  # not a joblib file, or joblib missing
                errors.append("joblib: %s" % e)
                try:
                    import xgboost as xgb
                    model = ("xgboost", xgb.Booster(model_file=self.model_path))
                except Exception as e2:
                    errors.append("xgboost: %s" % e2)
                    raise RuntimeError(
                        "XgSklServingBaseService could not load %s with scikit-learn's "
                        "joblib or XGBoost (install the one the model needs): %s"
                        % (self.model_path, "; ".join(errors)))
            self._wf_loaded_model = model
            return model

    def _inference(self, data):
        kind, model = self._wf_model()
        if kind == "xgboost":
            import xgboost as xgb
            data = xgb.DMatrix(data)
        result = model.predict(data)
        return result.tolist() if hasattr(result, "tolist") else result

    def _postprocess(self, data):
        return [{"predictresult": element} for element in data]
