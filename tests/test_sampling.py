import pytest
import torch

from segue.sampling import apply_temperature, choose, mask_logits, sample, top_p_filter


def logits():
    return torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05], [0.05, 0.15, 0.3, 0.5]]))


def test_same_seed_gives_the_same_draws_and_another_seed_differs():
    wide = torch.zeros(4, 64)
    draw = lambda seed: sample(wide, torch.Generator().manual_seed(seed))  # noqa: E731
    assert torch.equal(draw(3), draw(3))
    assert not torch.equal(draw(3), draw(4))


def test_sampling_follows_the_distribution():
    generator = torch.Generator().manual_seed(0)
    draws = sample(logits()[:1].expand(20_000, 4), generator)
    frequencies = torch.bincount(draws, minlength=4) / 20_000
    assert torch.allclose(frequencies, torch.tensor([0.5, 0.3, 0.15, 0.05]), atol=0.015)


def test_top_p_keeps_the_smallest_set_reaching_p():
    kept = torch.isfinite(top_p_filter(logits(), 0.75))
    assert kept.tolist() == [[True, True, False, False], [False, False, True, True]]
    assert torch.isfinite(top_p_filter(logits(), 0.01)).sum(dim=-1).tolist() == [1, 1]
    assert torch.equal(top_p_filter(logits(), 1.0), logits())


def test_temperature_scales_and_zero_is_greedy():
    assert torch.allclose(apply_temperature(logits(), 2.0), logits() / 2)
    greedy = apply_temperature(logits(), 0.0)
    assert torch.isfinite(greedy).tolist() == [[True, False, False, False], [False, False, False, True]]
    assert sample(greedy, torch.Generator().manual_seed(1)).tolist() == [0, 3]


def test_mask_rules_choices_out():
    allowed = torch.tensor([False, False, True, True])
    masked = mask_logits(logits(), allowed)
    draws = sample(masked.expand(2, 4).repeat(500, 1), torch.Generator().manual_seed(2))
    assert set(draws.tolist()) <= {2, 3}


def test_choose_applies_mask_before_top_p():
    allowed = torch.tensor([False, True, True, True])
    draws = choose(logits()[:1].repeat(2000, 1), 1.0, 0.6, torch.Generator().manual_seed(5), allowed)
    assert set(draws.tolist()) == {1}  # of what is allowed, 0.3 alone already holds 60 % of the mass


@pytest.mark.parametrize(("function", "bad"), [(apply_temperature, -0.5), (top_p_filter, 0.0), (top_p_filter, 1.5)])
def test_bad_parameters_are_refused(function, bad):
    with pytest.raises(ValueError):
        function(logits(), bad)
