"""RecognizerOptions: one value owns every recognition default and range check; the CLI builds it
once for every command; detectors come from a registry with per-mode presets."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest
from conftest import PHOTO

from ferlab.cli import build_parser, main
from ferlab.cli.recognition import bare_tta, options_from_args
from ferlab.detectors import DETECTORS, Detection, build_detector, detector_spec, register_detector, resolved
from ferlab.errors import FerlabError
from ferlab.inference.recognizer import Recognizer
from ferlab.options import DetectorOptions, RecognizerOptions


@pytest.mark.parametrize(
    "kw, message",
    [
        ({"min_confidence": 1.5}, "min_confidence must be a probability in [0, 1], got 1.5"),
        ({"min_confidence": -0.1}, "min_confidence must be a probability"),
        ({"max_faces": 0}, "max_faces must be a whole number ≥ 1"),
        ({"tta": "ten"}, "unknown test-time augmentation 'ten'"),
        ({"mode": "film"}, "unknown mode 'film'"),
        ({"backend": "tensorrt"}, "unknown backend 'tensorrt'"),
        ({"search_side": 10}, "search side must be a whole number of pixels ≥ 32"),
    ],
)
def test_out_of_range_settings_are_refused_in_one_place(kw, message):
    pattern = message.replace("[", r"\[").replace("]", r"\]")
    with pytest.raises(FerlabError, match=pattern):
        RecognizerOptions().replace(**kw)
    with pytest.raises(FerlabError, match=pattern):  # the same check through the Python API
        Recognizer(**kw)


def test_options_are_a_value_that_travels():
    o = RecognizerOptions(tta="flip", min_confidence=0.4).replace(search_side=320)
    assert o.detector == DetectorOptions(name="centerface", search_side=320)
    assert pickle.loads(pickle.dumps(o)) == o  # worker processes and Ray actors get the same settings
    with pytest.raises(dataclasses.FrozenInstanceError):
        o.tta = "none"  # type: ignore[misc]


def test_the_recognizer_takes_options_or_keywords_alike():
    a = Recognizer(options=RecognizerOptions(tta="flip", min_confidence=0.3, detector=DetectorOptions(search_side=480)))
    b = Recognizer(tta="flip", min_confidence=0.3, search_side=480)
    assert a.options == b.options and a.tta == b.tta == "flip" and a.search_side == b.search_side == 480
    assert a.detector.max_side == 480
    video = Recognizer(options=RecognizerOptions(mode="video"))
    assert video.tta == "none" and video.detector.max_side == 320 and video.detector.threshold == 0.5
    with pytest.raises(TypeError, match="unknown settings: colour"):
        Recognizer(colour=True)


def parse(*argv):
    return build_parser().parse_args(bare_tta(list(argv)))


def test_every_recognition_command_builds_the_same_options():
    common = ["--tta", "flip", "--min-confidence", "0.4", "--search-side", "480", "--no-align", "--max-faces", "3"]
    want = RecognizerOptions(
        tta="flip", min_confidence=0.4, align=False, max_faces=3, detector=DetectorOptions(search_side=480)
    )
    for argv in (
        ["predict", "x.jpg", *common],
        ["evaluate", *common],
        ["explain", "x.jpg", "--out", "o.png", *common],
        ["serve", *common],
    ):
        assert options_from_args(parse(*argv)) == want, argv[0]
    video = options_from_args(parse("video", "0", *common))
    assert video.mode == "video" and video.detector.search_side == 480 and video.min_confidence == 0.4


def test_a_bare_tta_does_not_swallow_the_next_path(capsys):
    args = parse("predict", "--tta", str(PHOTO))
    assert args.tta == "flip" and args.paths == [str(PHOTO)]
    assert parse("predict", str(PHOTO), "--tta").tta == "flip"
    assert parse("predict", "--tta", "multi", str(PHOTO)).tta == "multi"
    assert main(["predict", "--tta", str(PHOTO)]) == 0
    assert "test-time augmentation flip" in capsys.readouterr().out


def test_min_confidence_is_range_checked_on_the_command_line(capsys):
    with pytest.raises(SystemExit) as e:
        main(["predict", str(PHOTO), "--min-confidence", "2"])
    assert e.value.code == 2 and "must be between 0 and 1, got 2" in capsys.readouterr().err
    for cmd in (["video", "0", "--every", "0"], ["video", "0", "--smooth", "0"]):
        with pytest.raises(SystemExit):
            main(cmd)
        assert "must be at least 1, got 0" in capsys.readouterr().err


def test_evaluate_no_align_reaches_the_recognizer(monkeypatch, capsys):
    """`ferlab evaluate --no-align` used to be accepted and ignored."""
    seen = {}

    def fake(model, data, split, *, options, **kw):
        seen["options"] = options
        raise FerlabError("stop here")

    monkeypatch.setattr("ferlab.evaluation.evaluate.evaluate_ref", fake)
    assert main(["evaluate", "--no-align", "--detector", "haar", "--search-side", "800"]) == 2
    assert seen["options"].align is False and seen["options"].detector == DetectorOptions(name="haar", search_side=800)


def test_detectors_come_from_a_registry_with_presets_per_mode():
    assert DETECTORS == ("centerface", "yunet", "haar")
    assert resolved(DetectorOptions(), "photo") == {"search_side": 640, "threshold": 0.3}
    assert resolved(DetectorOptions(), "video") == {"search_side": 320, "threshold": 0.5}
    assert resolved(DetectorOptions(search_side=500, threshold=0.7), "video") == {"search_side": 500, "threshold": 0.7}
    assert build_detector("haar").max_side == 1280 and build_detector("haar", mode="video").max_side == 320
    with pytest.raises(FerlabError, match=r"unknown detector 'mtcnn' \(use centerface, yunet, haar\)"):
        detector_spec("mtcnn")


def test_a_new_detector_is_one_registered_class(monkeypatch, photo):
    from ferlab.detectors import registry

    monkeypatch.setattr(registry, "_DETECTORS", dict(registry._DETECTORS))

    @register_detector(
        "whole",
        presets={"photo": {"search_side": 64, "threshold": 0.5}, "video": {"search_side": 32, "threshold": 0.5}},
        summary="the whole image is the face",
    )
    class Whole:
        name = "whole"

        def __init__(self, side):
            self.max_side = side

        @classmethod
        def from_options(cls, options, *, search_side, threshold, threads=None):
            return cls(search_side)

        def detect(self, rgb):
            return [Detection((0, 0, rgb.shape[1], rgb.shape[0]), 1.0)]

    rec = Recognizer(detector="whole")
    (face,) = rec.predict(np.asarray(photo))
    assert face.box == (0, 0, photo.shape[1], photo.shape[0]) and rec.detector.max_side == 64
    # the command line offers what the registry holds: no second list of names to keep in step
    args = build_parser().parse_args(["predict", "x.jpg", "--detector", "whole"])
    assert options_from_args(args).detector.name == "whole"


def test_the_device_is_chosen_and_said(capsys):
    """--device auto takes a GPU where one is usable; cuda where none is says so in one line."""
    import onnxruntime as ort

    rec = Recognizer()
    has_cuda = "CUDAExecutionProvider" in ort.get_available_providers()
    assert rec.runs_on == ("onnxruntime int8 on CUDA" if has_cuda else "onnxruntime int8 on CPU")
    assert main(["predict", str(PHOTO)]) == 0
    assert f"zoomflip, {rec.runs_on})" in capsys.readouterr().out
    if not has_cuda:
        assert main(["predict", str(PHOTO), "--device", "cuda"]) == 2
        assert "this onnxruntime has no CUDA provider" in capsys.readouterr().err
