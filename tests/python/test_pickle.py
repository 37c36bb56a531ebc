"""Workers get a Classifier by pickle: as its constructor arguments, never its weights; and a
RefusalError raised on a worker survives the trip back (issue 16)."""
from __future__ import annotations

import os
import pickle

import pytest

import refusal
from conftest import MODEL


def test_classifier_pickles_as_its_arguments(eval_texts):
    clf = refusal.Classifier(str(MODEL), threads=1, preset="llm-guard", threshold=0.6,
                             max_length=64, dtype="int8", batch_tokens=1024)
    data = pickle.dumps(clf)
    # The model's weights are ~5 MB; the pickle holds a path and a few options.
    assert len(data) < 1000
    assert os.path.getsize(MODEL / "model.safetensors") > 1000 * len(data)
    back = pickle.loads(data)
    assert isinstance(back, refusal.Classifier) and back is not clf
    assert (back.model_path, back.dtype, back.threshold, back.max_length, back.threads) == \
        (clf.model_path, "int8", 0.6, 64, 1)
    texts = eval_texts[:40]
    assert back.predict(texts) == clf.predict(texts)


def test_a_relative_model_path_is_made_absolute(monkeypatch):
    monkeypatch.chdir(MODEL.parent)
    clf = refusal.Classifier(MODEL.name, threads=1)
    monkeypatch.chdir("/")  # a worker elsewhere
    back = pickle.loads(pickle.dumps(clf))
    assert clf.model_path == MODEL.name
    assert back.model_path == str(MODEL)


def test_no_model_means_the_workers_own_bundled_model():
    try:
        default = refusal.default_model_path()
    except refusal.RefusalError:
        pytest.skip("no bundled default model installed")
    clf = refusal.Classifier(threads=1)
    assert clf._arguments["model"] is None  # not this machine's path
    assert pickle.loads(pickle.dumps(clf)).model_path == clf.model_path == default


def test_refusal_error_survives_pickling():
    with pytest.raises(refusal.RefusalError) as caught:
        refusal.Classifier(str(MODEL / "no-such-model"))
    for error in (caught.value, refusal.RefusalError("dtype: unknown 'fp8'")):
        back = pickle.loads(pickle.dumps(error))
        assert type(back) is refusal.RefusalError
        assert isinstance(back, ValueError)
        assert str(back) == str(error) and back.args == error.args
    assert "no-such-model" in str(caught.value)


def test_batch_scorer_gives_bad_values_an_error_record(clf):
    """The adapters' batches: a null, a number or a lone surrogate costs only its own row."""
    from refusal._frames import BatchScorer

    scorer = BatchScorer(clf, "text", explain=False, raw_scores=False)
    assert scorer.fields == ["label", "score", "scores", "refusal", "truncated", "error"]
    values = ["I can't help with that.", None, 3, "bad \ud800 text", "", "Sure, here it is."]
    records = scorer.records(values)
    assert len(records) == len(values)
    assert records[1] == {"error": "field 'text' is not a string (null)"}
    assert records[2] == {"error": "field 'text' is not a string (number)"}
    assert records[3] == {"error": "field 'text' is not valid UTF-8 (lone surrogate at "
                                   "character 4)"}
    good = [values[i] for i in (0, 4, 5)]
    assert [records[i] for i in (0, 4, 5)] == clf.predict(good)
    columns = scorer.columns(records)
    assert columns["error"][:2] == [None, records[1]["error"]]
    assert columns["label"][1] is None and columns["label"][0] == records[0]["label"]
