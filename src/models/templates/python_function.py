"""The `python-function` template: serves `predict(data)` from the `predict.py` given as a
template input (or found anywhere in the model's folder), as a ModelArts service."""
import importlib.util
import os

from model_service.model_service import SingleNodeService


def _find(root):
    for folder, _dirs, files in os.walk(root):
        if "predict.py" in files:
            return os.path.join(folder, "predict.py")
    raise FileNotFoundError("the python-function template needs a predict.py among its inputs")


class PythonFunctionService(SingleNodeService):
    def __init__(self, model_name, model_path):
        super().__init__(model_name, model_path)
        path = _find(model_path)
        spec = importlib.util.spec_from_file_location("predict", path)
        self.module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(self.module)

    def _preprocess(self, data):
        return data

    def _inference(self, data):
        return self.module.predict(data)

    def _postprocess(self, data):
        return data
