import math

import pytest
import torch

from segue.model import IGNORE, MelodyRNN, ModelConfig, note_nll


def batch(batch_size=3, source_len=7, target_len=5, bins=48):
    g = torch.Generator().manual_seed(0)
    tokens = lambda n: torch.stack(  # noqa: E731
        [torch.randint(0, bins, (batch_size, n), generator=g), torch.randint(0, 128, (batch_size, n), generator=g),
         torch.randint(0, bins, (batch_size, n), generator=g)], dim=-1)
    source, targets = tokens(source_len), tokens(target_len)
    lengths = torch.tensor([source_len, 3, 1])
    targets[2, 2:] = IGNORE
    decoder_input = torch.cat([source[:, :1], targets[:, :-1].clamp(min=0)], dim=1)
    return source, lengths, decoder_input, targets


@pytest.mark.parametrize("copy", [True, False])
def test_forward_shapes_loss_and_hidden(copy):
    config = ModelConfig(embed_dim=8, hidden_size=16, num_layers=2, copy=copy)
    model = MelodyRNN(config)
    logits, loss, hidden = model(*batch())
    assert logits.gap.shape == (3, 5, 48)
    assert logits.pitch.shape == (3, 5, 128)
    assert logits.duration.shape == (3, 5, 48)
    assert hidden.shape == (2, 3, 16)
    assert loss.ndim == 0 and torch.isfinite(loss)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


def test_untrained_loss_is_near_uniform():
    torch.manual_seed(0)
    # The pitch head alone: copying puts mass on the input's pitches from the start.
    model = MelodyRNN(ModelConfig(embed_dim=8, hidden_size=16, num_layers=1, copy=False)).eval()
    _, loss, _ = model(*batch())
    uniform = 2 * math.log(48) + math.log(128)
    assert loss.item() == pytest.approx(uniform, rel=0.05)


@pytest.mark.parametrize("copy", [True, False])
def test_padding_does_not_change_the_loss_of_real_notes(copy):
    model = MelodyRNN(ModelConfig(embed_dim=8, hidden_size=16, num_layers=1, copy=copy)).eval()
    source, lengths, decoder_input, targets = batch()
    first = note_nll(model(source[:1], lengths[:1], decoder_input[:1], targets[:1])[0], targets[:1])
    padded_source = torch.cat([source[:1], torch.zeros(1, 4, 3, dtype=torch.long)], dim=1)
    again = note_nll(model(padded_source, lengths[:1], decoder_input[:1], targets[:1])[0], targets[:1])
    assert torch.allclose(first, again, atol=1e-6)


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="hidden_size"):
        ModelConfig(hidden_size=0)
    with pytest.raises(ValueError, match="dropout"):
        ModelConfig(dropout=1.0)
