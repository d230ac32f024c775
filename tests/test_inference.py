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
    memory, state = network.encode(source[0].numpy())
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


def test_variations_share_one_encoding_and_decode_as_a_batch():
    generator = torch.Generator().manual_seed(2)
    network = InferenceModel(MelodyRNN(ModelConfig(embed_dim=8, hidden_size=16)).eval())
    memory, state = network.encode(random_tokens(generator, 5).numpy())
    batch = network.repeat_state(state, 3)
    steps = random_tokens(generator, 3).numpy()
    heads, _ = network.decode(steps, batch, memory)
    for row in range(3):
        alone, _ = network.decode(steps[row : row + 1], state, memory)
        np.testing.assert_allclose(heads[row : row + 1], alone, atol=1e-6)


def test_shipped_model_matches_too(shipped_checkpoint):
    generator = torch.Generator().manual_seed(3)
    model, network = shipped_checkpoint.model, shipped_checkpoint.inference
    source, step = random_tokens(generator, 12)[None], random_tokens(generator, 1)[None]
    with torch.inference_mode():
        memory, hidden = model.encode(source, torch.tensor([12]))
        features, _ = model.decode(step, hidden, memory)
        expected = model.gap_logits(features[:, 0])
    ours_memory, state = network.encode(source[0].numpy())
    heads, _ = network.decode(step[0].numpy(), state, ours_memory)
    np.testing.assert_allclose(network.gap_logits(heads), expected, atol=1e-4)
