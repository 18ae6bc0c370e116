import pytest

from photoid.config import PRESETS, TrainConfig, from_dict, load_config, loss_params, parse_override
from photoid.errors import ConfigError


def test_defaults_are_valid_and_no_flip():
    config = load_config()
    assert config == TrainConfig()
    assert config.augment.hflip is False


def test_unknown_key_is_rejected_with_suggestion():
    with pytest.raises(ConfigError, match=r"unknown config key 'loss.margn_deg'.*margin_deg"):
        load_config(overrides=["loss.margn_deg=30"])
    with pytest.raises(ConfigError, match=r"unknown config key 'optimm'.*optim"):
        from_dict({"optimm": {}})


def test_yaml_file_preset_and_overrides_in_order(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loss:\n  name: cosface\n  cos_margin: 0.3\nfast:\n  epochs: 7\n")
    config = load_config(path, ["fast.epochs=9", "model.pooling=gem"], preset="lions-fast")
    assert config.loss.name == "cosface" and config.loss.cos_margin == 0.3
    assert config.fast.epochs == 9  # override beats file
    assert config.fast.passes == PRESETS["lions-fast"]["fast"]["passes"]  # preset kept
    assert config.data.split_column == "closed_split"
    assert loss_params(config.loss) == {"cos_margin": 0.3}


def test_types_and_choices_are_checked():
    with pytest.raises(ConfigError, match="expected int"):
        load_config(overrides=["optim.epochs=two"])
    with pytest.raises(ConfigError, match="pooling.*Did you mean: gem"):
        load_config(overrides=["model.pooling=gen"])
    with pytest.raises(ConfigError, match="unknown preset"):
        load_config(preset="lion-fast")
    assert load_config(overrides=["optim.lr_head=1"]).optim.lr_head == 1.0  # int → float


def test_parse_override():
    assert parse_override("loss.margin_deg=30") == {"loss": {"margin_deg": 30}}
    with pytest.raises(ConfigError):
        parse_override("no_equals_sign")


@pytest.mark.parametrize("preset", ["lions-gpu", "cows-gpu"])
def test_gpu_recipes_fine_tune_with_the_winners_ingredients_on_training_photos(preset):
    config = load_config(preset=preset)
    assert config.strategy == "frozen+finetune" and config.model.backbone == "efficientnet_lite2"
    assert config.loss.name == "subcenter_arcface" and config.loss.dynamic_margins
    optim = config.optim
    assert optim.layer_decay < 1 and optim.ema_decay > 0 and optim.freeze_bn
    assert optim.lr_backbone < optim.lr_head and optim.warmup_epochs >= 1
    assert (config.data.split_column, config.data.train_split) == ("closed_split", "train")
    assert config.augment.hflip is False


def test_the_cpu_fine_tuning_recipe_is_the_gpu_one_on_a_smaller_backbone():
    cpu, gpu = load_config(preset="cows-finetune"), load_config(preset="cows-gpu")
    assert cpu.model.backbone == "efficientnet_lite0" and cpu.model.image_size == 160
    assert (cpu.strategy, cpu.loss, cpu.data, cpu.augment) == (
        gpu.strategy, gpu.loss, gpu.data, gpu.augment
    )  # fmt: skip
    same = ("lr_backbone", "lr_head", "layer_decay", "ema_decay", "freeze_bn", "warmup_epochs")
    assert all(getattr(cpu.optim, k) == getattr(gpu.optim, k) for k in same)
    assert (cpu.optim.epochs, cpu.optim.batch_size) == (5, 64)
