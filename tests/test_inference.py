"""The numpy network must compute exactly what the PyTorch module computes."""

import numpy as np
import pytest
import torch

from segue.inference import InferenceModel
from segue.torch_inference import TorchInference, inference_model, numpy_port
from segue.model import MelodyRNN, MelodyTransformer, ModelConfig, build_model


def log_softmax(logits):
    """The module's pitch logits as log-probabilities: it leaves a factor per row out of the copy
    mixture (mass a pointer proposes outside the MIDI range), which the numpy port normalizes away."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def random_tokens(generator, count, bins=48):
    return torch.stack([torch.randint(0, bins, (count,), generator=generator),
                        torch.randint(0, 128, (count,), generator=generator),
                        torch.randint(0, bins, (count,), generator=generator)], dim=-1)


def decode_known_continuation(model, network, source_length: int, seed: int, steps: int = 6):
    """Decode a known continuation one note at a time and check every field's logits against the
    module's teacher-forced pass over it -> (the network's final state, the module's)."""
    generator = torch.Generator().manual_seed(seed)
    source, targets = random_tokens(generator, source_length)[None], random_tokens(generator, steps)[None]
    decoder_input = torch.cat([source[:, -1:], targets[:, :-1]], dim=1)
    with torch.inference_mode():
        logits, _, final = model(source, torch.tensor([source_length]), decoder_input, targets)
    memory, state = network.encode([source[0].numpy()])
    for t in range(targets.shape[1]):
        step, state = network.decode(decoder_input[0, t : t + 1].numpy(), state, memory)
        gap, pitch = targets[0, t : t + 1, 0].numpy(), targets[0, t : t + 1, 1].numpy()
        pitch_p = network.pitch_probabilities(step, gap)
        assert (pitch_p > 0).all() and pitch_p.sum() == pytest.approx(1.0, abs=1e-5)
        np.testing.assert_allclose(network.gap_logits(step), logits.gap[0, t : t + 1], atol=1e-5)
        np.testing.assert_allclose(np.log(pitch_p), log_softmax(logits.pitch[0, t : t + 1].numpy()), atol=1e-4)
        np.testing.assert_allclose(network.duration_logits(step, gap, pitch), logits.duration[0, t : t + 1], atol=1e-5)
    return state, final


@pytest.mark.parametrize("config", [
    ModelConfig(embed_dim=8, hidden_size=16, num_layers=2, copy=True),
    ModelConfig(cell="lstm", embed_dim=8, hidden_size=16, num_layers=3, copy=True),
    ModelConfig(embed_dim=16, hidden_size=32, num_layers=1, copy=True),
    ModelConfig(embed_dim=8, hidden_size=16, num_layers=2, copy=False),
    ModelConfig(embed_dim=16, hidden_size=32, num_layers=1, copy=False),
])
def test_step_by_step_decoding_matches_the_teacher_forced_module(config):
    """Decoding a known extension one note at a time gives the logits and final state of the
    module's forward pass over the whole extension."""
    torch.manual_seed(1)
    model = MelodyRNN(config).eval()
    state, final = decode_known_continuation(model, numpy_port(model), 9, seed=0)
    hidden = final if isinstance(final, tuple) else (final,)
    for layer, layer_state in enumerate(state):
        for ours, theirs in zip(layer_state, hidden):
            np.testing.assert_allclose(ours[0], theirs[layer, 0], atol=1e-5)


@pytest.mark.parametrize("source_length", [9, 1])
@pytest.mark.parametrize("cell", ["gru", "transformer"])
def test_every_architecture_decodes_step_by_step_as_its_teacher_forced_pass(cell, source_length):
    """Also for an input of one note, where the copy pointers have nothing to point at."""
    torch.manual_seed(5)
    model = build_model(ModelConfig(cell=cell, embed_dim=8, hidden_size=16, num_layers=2, heads=2, copy=True)).eval()
    network = inference_model(model)
    assert isinstance(network, TorchInference if cell == "transformer" else InferenceModel)
    decode_known_continuation(model, network, source_length, seed=4)


@pytest.mark.parametrize("copy", [True, False])
@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_inputs_of_different_lengths_encode_and_decode_as_one_batch(cell, copy):
    """Padding neither leaks into a shorter input's state nor into what its rows attend to (nor,
    with pointers, into what they point at)."""
    generator = torch.Generator().manual_seed(2)
    network = numpy_port(MelodyRNN(ModelConfig(cell=cell, embed_dim=8, hidden_size=16, copy=copy)).eval())
    sources = [random_tokens(generator, n).numpy() for n in (5, 2, 9)]
    memory, state = network.encode(sources)
    rows = np.array([0, 0, 1, 2, 2])  # variations repeat their input's row
    steps = random_tokens(generator, 5).numpy()
    batched, _ = network.decode(steps, network.select(state, rows), memory.rows(rows))
    gaps = steps[:, 0]
    for batch_row, (row, step) in enumerate(zip(rows, steps)):
        alone_memory, alone_state = network.encode([sources[row]])
        alone, _ = network.decode(step[None], alone_state, alone_memory)
        np.testing.assert_allclose(batched.heads[batch_row : batch_row + 1], alone.heads, atol=1e-5)
        np.testing.assert_allclose(network.pitch_probabilities(batched, gaps)[batch_row : batch_row + 1],
                                   network.pitch_probabilities(alone, gaps[batch_row : batch_row + 1]), atol=1e-6)


def test_the_shipped_model_matches_on_every_head_over_a_whole_continuation(shipped_checkpoint):
    """40 notes, as many as a 5 s continuation at a fast tempo, on every head."""
    decode_known_continuation(shipped_checkpoint.model, shipped_checkpoint.inference, 12, seed=3, steps=40)


@pytest.mark.parametrize("shipped", [True, False], ids=["shipped", "with pointers"])
def test_a_padded_batch_matches_the_modules_padded_batch(shipped_checkpoint, shipped):
    """Inputs of different lengths, decoded together: each row against PyTorch's pass over the
    same right-padded batch."""
    generator = torch.Generator().manual_seed(9)
    if shipped:
        model, network = shipped_checkpoint.model, shipped_checkpoint.inference
    else:
        torch.manual_seed(3)
        model = MelodyRNN(ModelConfig(embed_dim=8, hidden_size=16, num_layers=2, copy=True)).eval()
        network = numpy_port(model)
    lengths = [5, 2, 9]
    sources = [random_tokens(generator, n) for n in lengths]
    targets = random_tokens(generator, 3 * 4).reshape(3, 4, 3)
    source = torch.zeros(3, max(lengths), 3, dtype=torch.long)
    for row, tokens in enumerate(sources):
        source[row, : len(tokens)] = tokens
    decoder_input = torch.cat([torch.stack([s[-1] for s in sources])[:, None], targets[:, :-1]], dim=1)
    with torch.inference_mode():
        logits, _, _ = model(source, torch.tensor(lengths), decoder_input, targets)
    memory, state = network.encode([s.numpy() for s in sources])
    assert memory.padded
    for t in range(targets.shape[1]):
        step, state = network.decode(decoder_input[:, t].numpy(), state, memory)
        gap, pitch = targets[:, t, 0].numpy(), targets[:, t, 1].numpy()
        np.testing.assert_allclose(network.gap_logits(step), logits.gap[:, t], atol=1e-4)
        np.testing.assert_allclose(np.log(network.pitch_probabilities(step, gap)), log_softmax(logits.pitch[:, t].numpy()),
                                   atol=1e-4)
        np.testing.assert_allclose(network.duration_logits(step, gap, pitch), logits.duration[:, t], atol=1e-4)


def test_a_parameter_the_port_would_not_use_is_refused():
    model = MelodyRNN(ModelConfig(embed_dim=8, hidden_size=16, num_layers=1)).eval()
    parameters = {name: tensor.numpy() for name, tensor in model.state_dict().items()}
    InferenceModel(model.config, parameters)
    with pytest.raises(ValueError, match="does not use the parameters extra_head.weight"):
        InferenceModel(model.config, {**parameters, "extra_head.weight": np.zeros((2, 2))})
    with pytest.raises(KeyError):
        InferenceModel(model.config, {k: v for k, v in parameters.items() if k != "combine.bias"})


def test_transformer_rows_of_different_inputs_decode_as_one_batch():
    generator = torch.Generator().manual_seed(6)
    torch.manual_seed(7)
    network = TorchInference(MelodyTransformer(ModelConfig(cell="transformer", embed_dim=8, hidden_size=16, heads=2,
                                                           copy=True)))
    sources = [random_tokens(generator, n).numpy() for n in (5, 2, 9)]
    memory, state = network.encode(sources)
    rows = np.array([0, 0, 1, 2, 2])
    steps = random_tokens(generator, 5).numpy()
    batched, _ = network.decode(steps, network.select(state, rows), memory.rows(rows))
    for batch_row, (row, step) in enumerate(zip(rows, steps)):
        alone_memory, alone_state = network.encode([sources[row]])
        alone, _ = network.decode(step[None], alone_state, alone_memory)
        np.testing.assert_allclose(network.pitch_probabilities(batched, steps[:, 0])[batch_row : batch_row + 1],
                                   network.pitch_probabilities(alone, step[None, 0]), atol=1e-6)


def test_copying_proposes_what_followed_in_the_input():
    """With the gate forced to "copy the pitch" and a pointer that sees only which note it is,
    the pitch distribution is exactly what followed the attended notes."""
    torch.manual_seed(8)
    model = MelodyRNN(ModelConfig(embed_dim=8, hidden_size=16, num_layers=1, copy=True)).eval()
    with torch.no_grad():
        model.copy_gate.weight.zero_()
        model.copy_gate.bias.copy_(torch.tensor([-50.0, 50.0, -50.0]))
        model.copy_query.weight.zero_()  # every input note equally attended
    network = numpy_port(model)
    source = np.array([[10, 60, 10], [10, 67, 10], [10, 60, 10], [10, 64, 10]])
    memory, state = network.encode([source])
    step, _ = network.decode(source[-1:], state, memory)
    probabilities = network.pitch_probabilities(step, np.array([10]))[0]
    # Notes 0..2 have successors 67, 60, 64: a third each.
    assert probabilities[[67, 60, 64]] == pytest.approx([1 / 3] * 3, abs=1e-6)
    # "Copy the step" from the previous pitch 64: steps +7, -7, +4 -> 71, 57, 68.
    with torch.no_grad():
        model.copy_gate.bias.copy_(torch.tensor([-50.0, -50.0, 50.0]))
    network = numpy_port(model)
    memory, state = network.encode([source])
    step, _ = network.decode(source[-1:], state, memory)
    probabilities = network.pitch_probabilities(step, np.array([10]))[0]
    assert probabilities[[71, 57, 68]] == pytest.approx([1 / 3] * 3, abs=1e-6)
