import pytest

from modelship_common import registry


def test_model_uri_is_pinned():
    assert registry.model_uri("penguins", 7) == "models:/penguins/7"


@pytest.mark.parametrize(
    ("uri", "expected"),
    [
        ("models:/penguins/7", ("penguins", "7", None)),
        ("models:/digits-fast@champion", ("digits-fast", None, "champion")),
    ],
)
def test_parse_model_uri(uri, expected):
    assert registry.parse_model_uri(uri) == expected


@pytest.mark.parametrize("uri", ["runs:/abc/model", "models:/penguins", "models:/penguins/latest", "models:/@x"])
def test_parse_model_uri_rejects_other_forms(uri):
    with pytest.raises(ValueError, match="URI"):
        registry.parse_model_uri(uri)


def test_metrics_come_from_metric_tags_only():
    tags = {"test_f1": "0.98", "train_accuracy": "1.0", "test_bad": "n/a", "modelship.io/onnx": "runs:/x"}
    assert registry.metrics_from_tags(tags) == {"test_f1": 0.98, "train_accuracy": 1.0}


def test_tag_filter_quotes_what_it_must_and_refuses_what_it_cannot():
    assert registry.tag_filter(registry.SERVE_TAG, "true") == "tags.`modelship.io/serve` = 'true'"
    assert registry.tag_filter("team", "it's") == 'tags.`team` = "it\'s"'
    with pytest.raises(ValueError, match="contains a backtick"):
        registry.tag_filter("a`b", "true")
    with pytest.raises(ValueError, match="both quote characters"):
        registry.tag_filter("team", 'it\'s "x"')
