"""SearchConfig: defaults, validation, JSON round trip; per-algorithm paper defaults."""

from __future__ import annotations

import json

import pytest

from tfnas.algorithms import ALGORITHMS, SearchConfig, make_optimizers


def test_round_trip_through_json():
    config = SearchConfig(algorithm="rome", epochs=3, num_samples=2, channels=8, layers=2)
    assert SearchConfig.from_dict(json.loads(json.dumps(config.to_dict()))) == config


def test_from_dict_rejects_unknown_keys():
    data = SearchConfig().to_dict() | {"learnign_rate": 0.1}
    with pytest.raises(ValueError, match="learnign_rate"):
        SearchConfig.from_dict(data)


@pytest.mark.parametrize(
    "field, value",
    [("epochs", 0), ("batch_size", -1), ("order", 3), ("beta_schedule", "step"), ("train_portion", 1.0),
     ("learning_rate", 0.0), ("momentum", 1.0), ("num_samples", 0), ("channels", 0)],
)
def test_invalid_values_name_field_and_value(field, value):
    with pytest.raises(ValueError, match=f"{field}={value!r}"):
        SearchConfig(**{field: value})


def test_registry_holds_the_cli_names():
    assert ALGORITHMS.names() == ["beta_darts", "bnas", "darts", "darts2", "darts_minus", "gdas", "gdas_reference", "magic_a", "magic_at", "magic_t", "pc_darts", "rome", "spos", "spos_distinct"]
    for name in ALGORITHMS:
        assert ALGORITHMS.get(name).default_config().algorithm == name


def test_paper_defaults():
    darts = ALGORITHMS.get("darts").default_config()
    assert (darts.epochs, darts.batch_size, darts.learning_rate, darts.min_learning_rate) == (50, 64, 0.025, 0.001)
    assert (darts.momentum, darts.weight_decay, darts.grad_clip, darts.order) == (0.9, 3e-4, 5.0, 1)
    assert (darts.arch_learning_rate, darts.arch_beta_1, darts.arch_beta_2, darts.arch_weight_decay) == (
        3e-4, 0.5, 0.999, 1e-3)
    assert ALGORITHMS.get("darts2").default_config().order == 2
    minus = ALGORITHMS.get("darts_minus").default_config()
    assert minus.aux_skip and minus.beta_schedule == "linear" and minus.order == 1
    pc = ALGORITHMS.get("pc_darts").default_config()
    assert (pc.partial_channels, pc.edge_normalization, pc.batch_size, pc.learning_rate) == (4, True, 256, 0.1)
    assert (pc.arch_learning_rate, pc.arch_warmup_epochs) == (6e-4, 15)
    pc_in = ALGORITHMS.get("pc_darts").default_config("imagenet")
    assert (pc_in.partial_channels, pc_in.batch_size, pc_in.learning_rate, pc_in.arch_learning_rate,
            pc_in.arch_warmup_epochs) == (2, 1024, 0.5, 6e-3, 35)
    gdas = ALGORITHMS.get("gdas").default_config()
    assert (gdas.tau_max, gdas.tau_min, gdas.arch_learning_rate, gdas.nesterov) == (10.0, 0.1, 3e-4, True)
    rome = ALGORITHMS.get("rome").default_config()
    assert (rome.num_samples, rome.epochs, rome.learning_rate, rome.momentum) == (7, 50, 0.05, 0.9)
    with pytest.raises(ValueError, match="preset"):
        ALGORITHMS.get("darts").default_config("imagenet")


def test_replace_validates_and_rejects_unknown_fields():
    config = SearchConfig()
    assert config.replace(epochs=2).epochs == 2
    with pytest.raises(ValueError, match="epoch"):
        config.replace(epoch=2)


def test_optimizers_cosine_schedule_and_no_keras_decay():
    config = SearchConfig(epochs=2)
    weights, arch = make_optimizers(config, steps_per_epoch=5)
    schedule = weights.learning_rate if callable(weights.learning_rate) else weights._learning_rate
    assert float(schedule(0)) == pytest.approx(0.025)
    assert float(schedule(10)) == pytest.approx(0.001)
    assert weights.weight_decay is None and arch.weight_decay is None
    assert weights.global_clipnorm is None and weights.clipnorm is None
    assert (arch.beta_1, arch.beta_2, arch.epsilon) == (0.5, 0.999, 1e-8)
    with pytest.raises(ValueError, match="steps_per_epoch=0"):
        make_optimizers(config, 0)


def test_supernet_config_carries_method_flags():
    cls = ALGORITHMS.get("pc_darts")
    sc = cls.supernet_config(cls.default_config(), "nb201", 10, (16, 16, 3))
    assert (sc.space, sc.channels, sc.layers, sc.mixing) == ("nb201", 16, 5, "softmax")
    assert (sc.partial_channels, sc.edge_normalization, sc.num_classes, sc.input_shape) == (4, True, 10, (16, 16, 3))
    assert ALGORITHMS.get("gdas").supernet_config(ALGORITHMS.get("gdas").default_config(), "darts").mixing == "gumbel"
    assert ALGORITHMS.get("rome").supernet_config(ALGORITHMS.get("rome").default_config(), "darts").layers == 8
    minus = ALGORITHMS.get("darts_minus")
    assert minus.supernet_config(minus.default_config(), "darts").aux_skip
