"""The numpy network must compute exactly what the PyTorch module computes."""

import numpy as np
import pytest
import torch

from segue.inference import InferenceModel
from segue.model import MelodyRNN, ModelConfig


def random_tokens(generator, count, bins=48):
    return torch.stack([torch.randint(0, bins, (count,), generator=generator),
                        torch.randint(0, 128, (count,), generator=generator),
                        torch.randint(0, bins, (count,), generator=generator)], dim=-1)


@pytest.mark.parametrize("config", [
    ModelConfig(embed_dim=8, hidden_size=16, num_layers=2),
    ModelConfig(cell="lstm", embed_dim=8, hidden_size=16, num_layers=3),
    ModelConfig(embed_dim=16, hidden_size=32, num_layers=1),
])
def test_step_by_step_decoding_matches_the_teacher_forced_module(config):
    """Decoding a known extension one note at a time gives the logits and final state of the
    module's forward pass over the whole extension."""
    generator = torch.Generator().manual_seed(0)
    torch.manual_seed(1)
    model = MelodyRNN(config).eval()
    source, targets = random_tokens(generator, 9)[None], random_tokens(generator, 6)[None]
    decoder_input = torch.cat([source[:, -1:], targets[:, :-1]], dim=1)
    with torch.inference_mode():
        logits, _, final = model(source, torch.tensor([9]), decoder_input, targets)

    network = InferenceModel(model)
    memory, state = network.encode([source[0].numpy()])
    for t in range(targets.shape[1]):
        heads, state = network.decode(decoder_input[0, t : t + 1].numpy(), state, memory)
        gap, pitch = targets[0, t : t + 1, 0].numpy(), targets[0, t : t + 1, 1].numpy()
        np.testing.assert_allclose(network.gap_logits(heads), logits.gap[0, t : t + 1], atol=1e-5)
        np.testing.assert_allclose(network.pitch_logits(heads, gap), logits.pitch[0, t : t + 1], atol=1e-5)
        np.testing.assert_allclose(network.duration_logits(heads, gap, pitch), logits.duration[0, t : t + 1], atol=1e-5)
    hidden = final if isinstance(final, tuple) else (final,)
    for layer, layer_state in enumerate(state):
        for ours, theirs in zip(layer_state, hidden):
            np.testing.assert_allclose(ours[0], theirs[layer, 0], atol=1e-5)


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_inputs_of_different_lengths_encode_and_decode_as_one_batch(cell):
    """Padding neither leaks into a shorter input's state nor into what its rows attend to."""
    generator = torch.Generator().manual_seed(2)
    network = InferenceModel(MelodyRNN(ModelConfig(cell=cell, embed_dim=8, hidden_size=16)).eval())
    sources = [random_tokens(generator, n).numpy() for n in (5, 2, 9)]
    memory, state = network.encode(sources)
    rows = np.array([0, 0, 1, 2, 2])  # variations repeat their input's row
    steps = random_tokens(generator, 5).numpy()
    heads, _ = network.decode(steps, network.select(state, rows), memory.rows(rows))
    for batch_row, (row, step) in enumerate(zip(rows, steps)):
        alone_memory, alone_state = network.encode([sources[row]])
        alone, _ = network.decode(step[None], alone_state, alone_memory)
        np.testing.assert_allclose(heads[batch_row : batch_row + 1], alone, atol=1e-5)


def test_shipped_model_matches_too(shipped_checkpoint):
    generator = torch.Generator().manual_seed(3)
    model, network = shipped_checkpoint.model, shipped_checkpoint.inference
    source, step = random_tokens(generator, 12)[None], random_tokens(generator, 1)[None]
    with torch.inference_mode():
        memory, hidden = model.encode(source, torch.tensor([12]))
        features, _ = model.decode(step, hidden, memory)
        expected = model.gap_logits(features[:, 0])
    ours_memory, state = network.encode([source[0].numpy()])
    heads, _ = network.decode(step[0].numpy(), state, ours_memory)
    np.testing.assert_allclose(network.gap_logits(heads), expected, atol=1e-4)
