"""Crisis language: whole-word matching, tested for true and false positives."""

import pytest

from iop_pwa.safety import has_crisis_language


@pytest.mark.parametrize(
    "text",
    [
        "I want to die",
        "Honestly I've been feeling SUICIDAL again.",
        "I can't go on like this",
        "I cant go on",
        "Thinking about how to end my life",
        "everyone would be better off without me",
        "I hurt myself last night",
        "I keep wanting to cut myself.",
        "Sometimes I think about self-harm",
        "I wish I was dead",
        "there's no reason to live",
        "I might take an overdose",
    ],
)
def test_crisis_phrases_are_recognised(text):
    assert has_crisis_language(text)


@pytest.mark.parametrize(
    "text",
    [
        "We practised active listening skills today.",
        "I'm dying to see my kids this weekend.",
        "My diet is going well and I feel good.",
        "That workout killed me, but I feel great.",
        "I hurt my back moving boxes.",
        "We talked about how to end an argument calmly.",
        "I can't go to group on Thursday.",
        "My phone died during the session.",
        "The cutting board is in the dishwasher.",
        "I want to live a healthier life.",
        "",
    ],
)
def test_ordinary_sentences_are_not_flagged(text):
    assert not has_crisis_language(text)


def test_any_of_several_texts_counts_and_none_is_fine():
    assert has_crisis_language(None, "fine", "I feel suicidal")
    assert not has_crisis_language(None, "")
