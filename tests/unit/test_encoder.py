"""The encoder package on small real inputs: transforms, augmentation, training's early stop,
and the checkpoint as the single source of a model."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

import encoder.fit
from encoder import checkpoint as ckpt
from encoder import training_state
from encoder.checkpoint import TransformSpec
from encoder.device import pick_device
from encoder.embed import Embedder, batch_size_for, latents, whitening_matrix
from encoder.fit import fit
from encoder.folder import CHECKPOINT_NAME, RECONSTRUCTIONS, TRAINING_PLOT
from encoder.model import ModelConfig
from encoder.schedule import EarlyStopping, epochs_that_fit
from encoder.train import Resumable, train
from encoder.train_config import TrainConfig
from encoder.training_run import split
from encoder.transforms import AugmentConfig, BatchAugment, fixed_transform, to_float

from images_for_tests import photo


def tiny_images(n: int = 40, side: int = 16) -> torch.Tensor:
    spec = TransformSpec(image_size=side)
    return torch.stack([fixed_transform(photo(i, (side * 2, side + 5)), spec) for i in range(n)])


def test_fixed_transform_is_deterministic_and_centre_crops():
    image = photo(1, (90, 45))
    spec = TransformSpec(image_size=32)
    a, b = fixed_transform(image, spec), fixed_transform(image, spec)
    assert a.shape == (3, 32, 32) and a.dtype == torch.uint8
    assert torch.equal(a, b)
    # The centre of a wide picture survives; its left edge does not.
    wide = fixed_transform(image.resize((64, 32)), spec)
    left_column = torch.from_numpy(np.array(image.resize((64, 32)))).permute(2, 0, 1)[:, :, 16]
    assert torch.equal(wide[:, :, 0], left_column)


def test_batch_augment_is_seeded_per_image_and_stays_in_range():
    x = to_float(tiny_images(8))
    first = BatchAugment(AugmentConfig(), torch.Generator().manual_seed(0))(x)
    again = BatchAugment(AugmentConfig(), torch.Generator().manual_seed(0))(x)
    other = BatchAugment(AugmentConfig(), torch.Generator().manual_seed(1))(x)
    assert first.shape == x.shape and 0 <= first.min() and first.max() <= 1
    assert torch.equal(first, again) and not torch.equal(first, other)
    assert not torch.allclose(first, x)  # it changed the pictures


def test_early_stopping_waits_patience_epochs_after_the_best():
    stopper = EarlyStopping(patience=2)
    decisions = []
    for epoch, value in enumerate([5.0, 4.0, 4.5, 3.99995, 4.2], start=1):
        decisions.append((stopper.update(epoch, value), stopper.should_stop(epoch)))
    # 3.99995 is not better by min_delta, so epoch 4 does not reset the count.
    assert decisions == [(True, False), (True, False), (False, False), (False, True), (False, True)]
    assert stopper.best_epoch == 2


def test_the_time_budget_plans_epochs_grows_the_plan_only_early_and_never_overruns():
    cfg = TrainConfig(epochs=100, time_budget_s=100.0)
    assert plan(TrainConfig(epochs=7, time_budget_s=None), [50.0], None) == 7
    planned = plan(cfg, [10.0], None)  # the first epoch took 10 s
    assert planned == 10
    planned = plan(cfg, [10.0, 8.0], planned)  # warmed up: 82 s left at 8 s each
    assert planned == 12
    warm = [10.0, 8.0, 8.0, 8.0]
    assert plan(cfg, warm + [4.0], planned) == 12  # faster, but past the plan's first third: never longer
    assert plan(cfg, warm + [20.0], planned) == 10  # one slow epoch: 54 s spent, 46 s left at 8 s
    assert plan(cfg, warm + [20.0] * 3, planned) == 7  # still slow: 94 s spent, less than an epoch left
    assert plan(cfg, [10.0] * 12, planned) == 12  # never fewer than already run
    assert plan(TrainConfig(epochs=4, time_budget_s=100.0), [1.0], None) == 4
    assert plan(cfg, [13.0, 11.5, 11.5], None) == 8  # 36 s + 5 x 11.5 s: one more would overrun


def test_one_slow_early_epoch_does_not_shorten_the_plan():
    # dogbreeds.zip's epochs while a test run shared the cores for a minute (540 s budget).
    seconds = [33.6, 47.9, 30.2, 28.9, 23.5, 28.4, 28.4, 27.7, 29.7, 29.7, 30.9, 30.0, 27.5]
    cfg, spent, planned = TrainConfig(epochs=100, time_budget_s=540.0), [], None
    while len(spent) < (planned or 1):
        spent.append(seconds[len(spent)] if len(spent) < len(seconds) else 29.0)
        planned = plan(cfg, spent, planned)
    assert len(spent) == 17 and 500 < sum(spent) <= 540  # a mean pace planned 13 epochs, 396 s


def test_training_keeps_the_best_epoch_and_records_every_epoch():
    cfg = TrainConfig(epochs=4, patience=1, batch_size=16)
    result = train(
        tiny_images(),
        ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8),
        cfg,
    )
    val = [h["val_loss"] for h in result.history]
    assert result.best_epoch == 1 + val.index(min(val))
    assert len(result.history) == (result.best_epoch + 1 if result.stopped_early else 4)
    assert all(h["train_loss"] > 0 and h["seconds"] > 0 for h in result.history)


def test_by_default_training_runs_its_whole_schedule_and_keeps_the_last_epoch():
    model_cfg = ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8)
    result = train(tiny_images(), model_cfg, TrainConfig(epochs=3, time_budget_s=None, batch_size=16))
    assert not result.stopped_early and result.best_epoch == 3 == len(result.history)
    assert result.history[-1]["lr"] < result.history[0]["lr"]  # annealed to (almost) nothing


def test_a_checkpoint_rebuilds_the_model_alone_and_refuses_tampering(tmp_path):
    images = tiny_images()
    cfg = ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8)
    path = fit(
        images,
        tmp_path,
        cfg,
        TrainConfig(epochs=2, batch_size=16),
        {"source": "test"},
    )
    assert path.name == CHECKPOINT_NAME
    assert (path.parent / TRAINING_PLOT).stat().st_size > 0 and (path.parent / RECONSTRUCTIONS).stat().st_size > 0

    loaded = ckpt.load(path)
    assert loaded.model_config == cfg and loaded.transform.image_size == 16
    assert loaded.history and loaded.summary["epochs_run"] == 2 and loaded.data == {"source": "test"}
    a, errors_a = Embedder(loaded).embed(images)
    b, errors_b = Embedder.from_file(path).embed(images)
    assert (abs(a - b).max() < 1e-6) and (abs(errors_a - errors_b).max() < 1e-7)

    raw = torch.load(path, weights_only=True)
    name = next(k for k in raw["state_dict"] if k.endswith("weight"))
    raw["state_dict"][name] = raw["state_dict"][name] + 1
    torch.save(raw, tmp_path / "tampered.pt")
    with pytest.raises(ckpt.CheckpointError, match="do not match"):
        ckpt.load(tmp_path / "tampered.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ckpt.CheckpointError):
        ckpt.load(tmp_path / "garbage.pt")


def test_whitening_gives_unit_variance_in_every_direction_and_the_stored_vector_uses_it(tmp_path):
    rng = np.random.default_rng(0)
    mixing = rng.normal(size=(6, 6)) * np.array([10, 5, 1, 1, 0.1, 0.1])  # correlated, very unequal
    data = rng.normal(size=(500, 6)) @ mixing
    centred = torch.from_numpy(data - data.mean(0)).float()
    white = (centred @ whitening_matrix(centred, shrinkage=0.0)).numpy()
    assert np.allclose(np.cov(white.T), np.eye(6), atol=1e-3)  # numpy's covariance, not torch's

    images = tiny_images()
    path = fit(
        images,
        tmp_path,
        ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8),
        TrainConfig(epochs=1, batch_size=16),
        {"source": "test"},
    )
    embedder = Embedder.from_file(path)
    assert embedder.checkpoint.embedding_whitening.shape == (16, 16)
    embedder.bf16 = False  # both sides in float32: on a CPU with native bfloat16 they would differ by its rounding
    z = (latents(embedder.model, images, embedder.device, flip_average=True, bf16=False) - embedder.mean).cpu()
    expected = (z @ embedder.checkpoint.embedding_whitening).numpy()
    expected /= np.linalg.norm(expected, axis=1, keepdims=True)
    assert np.allclose(embedder.embed(images)[0], expected, atol=1e-5)


def test_the_embedding_mean_comes_from_a_bounded_random_sample_of_the_training_images(tmp_path, monkeypatch):
    monkeypatch.setattr(encoder.fit, "STATS_IMAGES", 10)
    images, cfg = tiny_images(), TrainConfig(epochs=1, batch_size=16)
    path = fit(images, tmp_path, ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8), cfg, {})
    checkpoint = ckpt.load(path)
    assert checkpoint.summary["embedding_stats_images"] == 10
    train_indices, _ = split(len(images), cfg)  # fit's own split: the same seed, a random order
    device = pick_device()  # as fit computed them
    model = checkpoint.build_model().to(device)
    expected = latents(model, images[train_indices[:10]], device, flip_average=True).mean(0).cpu()
    assert torch.allclose(checkpoint.embedding_mean, expected, atol=1e-5)
    others = latents(model, images[train_indices[10:]], device, flip_average=True).mean(0).cpu()
    assert not torch.allclose(checkpoint.embedding_mean, others, atol=1e-3)  # it is that sample's mean


def test_embedding_batches_shrink_with_the_side_so_memory_stays_bounded():
    assert batch_size_for(40) == batch_size_for(80) == 256
    assert batch_size_for(112) * 112**2 <= 256 * 80**2 and batch_size_for(112) >= 128
    assert batch_size_for(1000) == 16


def tiny_checkpoint(images: torch.Tensor, folder) -> Path:
    """A model of 16 px images trained two epochs, saved as a load saves it."""
    model_cfg = ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8)
    return fit(images, folder, model_cfg, TrainConfig(epochs=2, batch_size=16), {"source": "test"})


def test_bfloat16_embeddings_match_float32_and_repeat_exactly(tmp_path):
    """Embedding runs in bfloat16 where the hardware has it; forced here on either path."""
    images = tiny_images()
    path = tiny_checkpoint(images, tmp_path)
    embedder = Embedder.from_file(path)
    embedder.bf16 = False
    exact, exact_errors = embedder.embed(images)
    embedder.bf16 = True
    fast, fast_errors = embedder.embed(images)
    assert np.array_equal(fast, embedder.embed(images)[0])
    assert not np.array_equal(fast, exact)  # it did run in bfloat16
    cosines = (fast * exact).sum(axis=1)  # unit vectors
    # Whitening fitted to 40 images stretches their weakest directions, and bfloat16's rounding with them.
    assert cosines.mean() > 0.99 and cosines.min() > 0.98
    assert np.allclose(fast_errors, exact_errors, rtol=0.05)


def test_embedding_folds_batch_norms_into_convolutions_and_gives_the_trained_models_vectors(tmp_path):
    images = tiny_images()
    path = tiny_checkpoint(images, tmp_path)
    embedder = Embedder.from_file(path)
    embedder.bf16 = False
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in embedder.model.modules())
    folded, folded_errors = embedder.embed(images)
    embedder.model = ckpt.load(path).build_model().to(embedder.device)  # as trained: convolution, then batch norm
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in embedder.model.modules())
    trained, trained_errors = embedder.embed(images)
    assert np.allclose(folded, trained, atol=1e-5)
    assert np.allclose(folded_errors, trained_errors, rtol=1e-4)


def plan(cfg: TrainConfig, epoch_seconds: list[float], planned: int | None) -> int:
    return epochs_that_fit(cfg.time_budget_s, cfg.epochs, epoch_seconds, planned)


def test_an_interrupted_training_resumes_and_other_data_starts_fresh(tmp_path):
    cfg = TrainConfig(epochs=3, time_budget_s=None, batch_size=16)
    model_cfg = ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8)
    said: list[str] = []
    resumable = Resumable(tmp_path / "state.pt", "photos-v1", said.append)

    def stop_at_epoch_2(record, model):
        if record["epoch"] == 2:
            raise KeyboardInterrupt  # Ctrl-C after epoch 2's training, before it was saved

    with pytest.raises(KeyboardInterrupt):
        train(tiny_images(), model_cfg, cfg, on_epoch=stop_at_epoch_2, resumable=resumable)
    result = train(tiny_images(), model_cfg, cfg, resumable=resumable)
    assert result.resumed_from == 1 and [h["epoch"] for h in result.history] == [1, 2, 3]
    assert len(said) == 1 and "1 of 3 epochs done" in said[0]
    other = train(tiny_images(), model_cfg, cfg, resumable=Resumable(tmp_path / "state.pt", "photos-v2"))
    assert other.resumed_from == 0  # a state saved for other data is never resumed


def test_a_resumed_load_goes_on_whatever_its_budget_but_not_as_an_exact_epoch_count(tmp_path):
    # A load's budget depends on how long its reading took, so it differs a little between runs.
    model_cfg = ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8)
    resumable = Resumable(tmp_path / "state.pt", "photos")

    def stop_at_epoch_2(record, model):
        if record["epoch"] == 2:
            raise KeyboardInterrupt

    budgeted = TrainConfig(epochs=3, time_budget_s=1000.0, batch_size=16)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_images(), model_cfg, budgeted, on_epoch=stop_at_epoch_2, resumable=resumable)
    exact = train(tiny_images(), model_cfg, replace(budgeted, time_budget_s=None), resumable=resumable)
    assert exact.resumed_from == 0  # --epochs N is another training
    with pytest.raises(KeyboardInterrupt):
        train(tiny_images(), model_cfg, budgeted, on_epoch=stop_at_epoch_2, resumable=resumable)
    resumed = train(tiny_images(), model_cfg, replace(budgeted, time_budget_s=990.0), resumable=resumable)
    assert resumed.resumed_from == 1 and len(resumed.history) == 3


def test_a_long_epoch_is_saved_within_and_resumed_at_its_step(tmp_path, monkeypatch):
    monkeypatch.setattr(training_state, "SAVE_EVERY_S", 0.0)  # save after every step
    cfg = TrainConfig(epochs=2, time_budget_s=None, batch_size=8)
    model_cfg = ModelConfig(image_size=16, width=8, latent_dim=16, projection_dim=8)
    said: list[str] = []
    resumable = Resumable(tmp_path / "state.pt", "photos", said.append)
    steps = {"seen": 0}

    class Interrupting:
        def advance(self, steps_done: int = 1, description: str | None = None) -> None:
            steps["seen"] += 1
            if steps["seen"] == 6:  # epoch 2 (4 steps an epoch), after its second step was saved
                raise KeyboardInterrupt

        def finish(self, description: str) -> None:
            pass

    @contextmanager
    def interrupting(description: str, total: int):
        yield Interrupting()

    with pytest.raises(KeyboardInterrupt):
        train(tiny_images(), model_cfg, cfg, progress=interrupting, resumable=resumable)
    result = train(tiny_images(), model_cfg, cfg, resumable=resumable)
    assert result.resumed_from == 1 and len(result.history) == 2
    assert "step 1 of epoch 2" in said[0]  # the step saved before the interrupted one
