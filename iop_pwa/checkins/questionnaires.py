"""The wording and scoring of the check-ins.

PHQ-9 and GAD-7 are in the public domain (Pfizer; Spitzer, Williams, Kroenke and colleagues);
their items, answers and severity bands are the published ones and must not be reworded. A
team's own check-ins use a labelled 1-5 scale and have no bands.
"""

from __future__ import annotations

from dataclasses import dataclass

STEM = "Over the last 2 weeks, how often have you been bothered by any of the following problems?"
FREQUENCY = (
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
)
SCALE = ((1, "Not at all"), (2, "A little"), (3, "Somewhat"), (4, "Quite a bit"), (5, "Very much"))

PHQ9_ITEMS = (
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself — or that you are a failure or have let yourself or your "
    "family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed? Or the opposite — being "
    "so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead or of hurting yourself in some way",
)
GAD7_ITEMS = (
    "Feeling nervous, anxious or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid as if something awful might happen",
)

# (lowest score, band), highest first: the published severity bands.
PHQ9_BANDS = (
    (20, "severe"),
    (15, "moderately severe"),
    (10, "moderate"),
    (5, "mild"),
    (0, "minimal"),
)
GAD7_BANDS = ((15, "severe"), (10, "moderate"), (5, "mild"), (0, "minimal"))

# What the participant reads about their score: plain and calm, never a diagnosis.
BAND_WORDS = {
    "minimal": "few or no signs of {topic} in the last two weeks",
    "mild": "some signs of {topic} in the last two weeks",
    "moderate": "a moderate amount of {topic} in the last two weeks",
    "moderately severe": "quite a lot of {topic} in the last two weeks",
    "severe": "a lot of {topic} in the last two weeks",
}
SAFETY_ITEM = 8  # PHQ-9 item 9 (0-based): any answer above 0 brings help and a flag


@dataclass(frozen=True)
class Form:
    """What a participant answers: a stem, the items, the answer choices, and the bands."""

    slug: str | None
    title: str
    stem: str
    items: tuple[str, ...]
    choices: tuple[tuple[int, str], ...]
    bands: tuple[tuple[int, str], ...] = ()
    topic: str = ""

    @property
    def max_score(self) -> int:
        return len(self.items) * max(v for v, _ in self.choices)

    @property
    def min_score(self) -> int:
        return len(self.items) * min(v for v, _ in self.choices)

    @property
    def band_ranges(self) -> list[tuple[int, int, str]]:
        """(lowest, highest, band), lowest first: "0-4 minimal", ..."""
        ranges, top = [], self.max_score
        for lowest, name in self.bands:
            ranges.append((lowest, top, name))
            top = lowest - 1
        return ranges[::-1]

    def band(self, score: int) -> str:
        for lowest, name in self.bands:
            if score >= lowest:
                return name
        return ""

    def words(self, score: int, band: str) -> str:
        """The result in plain words, for the participant."""
        if band:
            return (
                f"Your {self.title} score is {score} out of {self.max_score}. Your answers "
                f"suggest {BAND_WORDS[band].format(topic=self.topic)} ({band}). Your care team "
                "sees it too and can talk it through with you."
            )
        return f"Your answers add up to {score} out of {self.max_score}. Thank you for checking in."


PHQ9 = Form("phq9", "PHQ-9", STEM, PHQ9_ITEMS, FREQUENCY, PHQ9_BANDS, "low mood")
GAD7 = Form("gad7", "GAD-7", STEM, GAD7_ITEMS, FREQUENCY, GAD7_BANDS, "anxiety")
BUILTIN = {"phq9": PHQ9, "gad7": GAD7}


def form_for(questionnaire) -> Form:
    """The form of a check-in row: a built-in's published wording, or a team's questions."""
    if questionnaire.slug in BUILTIN:
        return BUILTIN[questionnaire.slug]
    return Form(
        None,
        questionnaire.title,
        "Choose the answer closest to how it has been for you.",
        tuple(questionnaire.question_list),
        SCALE,
    )


def score(form: Form, values: list[int]) -> tuple[int, str]:
    """The total and its band. Raises ValueError unless there is one allowed value per item."""
    allowed = {v for v, _ in form.choices}
    if len(values) != len(form.items) or any(v not in allowed for v in values):
        raise ValueError("one allowed answer per item")
    total = sum(values)
    return total, form.band(total)


def needs_safety_check(form: Form, values: list[int]) -> bool:
    """PHQ-9 item 9 above 0: crisis resources at once and a flag for the care team."""
    return form.slug == "phq9" and len(values) > SAFETY_ITEM and values[SAFETY_ITEM] > 0
