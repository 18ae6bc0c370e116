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
    assert config.model.stages == "all"  # as the CPU presets: Lite2's stages 0-4
    from photoid.models.embedding import build_model

    assert build_model(config.model).stages == (0, 1, 2, 3, 4)
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


def test_model_stages_is_a_list_of_integers_or_all(tmp_path):
    assert load_config().model.stages == "all"
    assert load_config(overrides=["model.stages=[1, 2]"]).model.stages == (1, 2)
    assert load_config(overrides=["model.stages=[]"]).model.stages == ()
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  stages: [0, 3]\n")
    assert load_config(path).model.stages == (0, 3)
    for bad in ("3", "[true]", "[1.5]", "one", "null"):
        with pytest.raises(ConfigError, match=r"model.stages: "):
            load_config(overrides=[f"model.stages={bad}"])
    with pytest.raises(ConfigError, match=r'expected a list of integers, e.g. \[1, 2\] or "all"'):
        load_config(overrides=["model.stages=al"])


def test_all_stages_means_every_stage_the_backbone_has(tiny_backbone):
    from photoid.errors import ModelError
    from photoid.models.embedding import EmbeddingModel, build_model

    model = build_model(load_config(overrides=["model.backbone=resnet10t", "model.weights=random",
                                               "model.image_size=32"]).model)  # fmt: skip
    assert model.stages == (0, 1, 2, 3, 4) and model.arch["stages"] == [0, 1, 2, 3, 4]
    assert model.pooled_features().num_features == 64 + 64 + 128 + 256 + 512 + 512
    with pytest.raises(ModelError, match="give a list of stages or 'all'"):
        EmbeddingModel(tiny_backbone, stages="every")


def test_lions_fast_pools_every_stage_of_lite1():
    """The validation photos chose every stage over the last map alone
    (docs/benchmarks/training.md)."""
    from photoid.models.embedding import build_model

    model = build_model(load_config(preset="lions-fast").model)
    assert model.name == "efficientnet_lite1" and model.stages == (0, 1, 2, 3, 4)
    assert model.pooled_features().num_features == 16 + 24 + 40 + 112 + 320 + 1280
    # "all" follows another backbone's stages (ConvNeXt has four) instead of naming a fifth
    other = load_config(preset="lions-fast", overrides=["model.backbone=convnext_atto",
                        "model.weights=random", "model.image_size=64"])  # fmt: skip
    assert build_model(other.model).stages == (0, 1, 2, 3)
