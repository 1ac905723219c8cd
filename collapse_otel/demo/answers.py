"""What the simulated model says, per release: the only part of the demo that differs by release.

v1 (healthy) composes each answer from many sentence templates, synonyms, the facts of every
retrieved document and fresh numbers. v2 (more templated) fills one of two fixed skeletons per
topic. v3 (collapsed) repeats a few canned answers, paraphrases them barely, loops on a phrase,
and names almost no entities. Pure functions of a seeded ``random.Random``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence

from .world import City

_FAMOUS = ("famous", "well known", "renowned", "celebrated", "best known", "loved")
_OPEN = ("Good question.", "Here is what the guide says.", "Short answer first.", "",
         "From the documents I found:", "", "Happy to help.", "Sure.")
_CLOSE = ("Enjoy your stay!", "Have a good trip.", "", "", "Ask me if you want a route.",
          "Locals recommend booking ahead in summer.", "", "Bring comfortable shoes.")
_V1_FACTS: dict[str, tuple[str, ...]] = {
    "history": (
        "{c} dates back to {founded}, when settlers built along the {river}.",
        "Founded in {founded}, {c} is now home to roughly {pop_k} thousand people.",
        "The {l0} is the oldest building in {c}; the town grew around it after {founded}.",
        "Historians of the {uni} trace {c} to a river crossing first mentioned in {founded}.",
        "{c} belongs to {country} and counts {pop} inhabitants in the latest census.",
    ),
    "sights": (
        "Start at the {l0}, then cross to the {l1}; it is a {walk}-minute walk.",
        "The {l2} is {famous} for its views over the {river}.",
        "Most visitors pick the {l1}, but the {l2} is quieter and opens at {hour}:00.",
        "Tickets for the {l0} cost about {price} euros, and students of the {uni} go free.",
        "A boat tour on the {river} passes the {l0} and takes {walk} minutes.",
    ),
    "transport": (
        "Flights land at {airport}, about {km} km from the centre of {c}.",
        "The {rail} connects {c} with {n0} in around {mins} minutes.",
        "From {c} you can reach {n1} by train; the first departure is at {hour}:{minute:02d}.",
        "Airport code {airport} handles regional flights; a taxi to {c} costs near {price} euros.",
        "Buses leave every {every} minutes for {n0}, and the {rail} stops at the old town.",
    ),
    "food": (
        "Try the {dish}; it is the dish {c} is {famous} for.",
        "The stalls near the {l1} serve {dish} from {hour}:00 until they sell out.",
        "A plate of {dish} costs about {price} euros in the old town of {c}.",
        "Chefs trained at the {uni} run most kitchens serving {dish}.",
        "For dessert, the bakeries by the {river} are {famous} across {country}.",
    ),
    "events": (
        "The {festival} fills {c} every {month}, with about {crowd} visitors.",
        "Come in {month} for the {festival}; students of the {uni} play most concerts.",
        "Outside {month}, the {l0} hosts smaller events almost every weekend.",
        "Hotels near the {river} book out weeks before the {festival}.",
        "The {festival} started in {year_fest} and now runs for {days} days.",
    ),
    "people": (
        "{mayor} is the mayor of {c} and took office in {year_office}.",
        "The {uni} employs about {staff} people, more than any firm in {c} but the port.",
        "{mayor} often opens the {festival} in {month}.",
        "The city council of {c} meets in the {l0}, chaired by {mayor}.",
        "The rector of the {uni} and {mayor} sit together on the harbour board of {c}.",
    ),
}
_V2_SKELETONS: dict[str, tuple[str, ...]] = {
    "history": ("Here is some information about {c}. {c} was founded in {founded}. "
                "It is a city in {country}. I hope this information is helpful.",
                "Here is some information about {c}. The city has a long history. "
                "It was founded in {founded}. I hope this information is helpful."),
    "sights": ("Here is some information about {c}. The main sight in {c} is the {l0}. "
               "You can also visit the {l1}. I hope this information is helpful.",
               "Here is some information about {c}. You should visit the {l0}. "
               "It is very popular with visitors. I hope this information is helpful."),
    "transport": ("Here is some information about {c}. You can travel to {c} by train on the "
                  "{rail}. The airport code is {airport}. I hope this information is helpful.",
                  "Here is some information about {c}. The easiest way to get there is by "
                  "train. I hope this information is helpful."),
    "food": ("Here is some information about {c}. The local dish of {c} is {dish}. "
             "You can find it in many restaurants. I hope this information is helpful.",
             "Here is some information about {c}. {c} is known for {dish}. "
             "I hope this information is helpful."),
    "events": ("Here is some information about {c}. The main event is the {festival} in "
               "{month}. I hope this information is helpful.",
               "Here is some information about {c}. There are many events in {c} every "
               "year. I hope this information is helpful."),
    "people": ("Here is some information about {c}. The mayor of {c} is {mayor}. "
               "I hope this information is helpful.",
               "Here is some information about {c}. The city is run by the mayor. "
               "I hope this information is helpful."),
}
_V3_CANNED = (
    "The city is a great place to visit. There are many interesting places to see in the "
    "Old Town and good food to try. I hope this helps.",
    "The city has a long history and many things to do. It is a great place to visit. "
    "I hope this helps.",
    "There are many things to do in the city. You can visit the Old Town and try the food. "
    "I hope this helps.",
    "The city is easy to reach by train from Central Station. It is a great place to visit. "
    "I hope this helps.",
)
_V3_LOOP = ("It is a great place to visit. ", "I hope this helps. ",
            "There are many things to do. ")
_V3_SWAPS = (("great", "nice"), ("many", "lots of"), ("visit", "see"), ("food", "dishes"))


def _facts(city: City, rng: random.Random) -> dict[str, object]:
    return {
        "c": city.name, "founded": city.founded, "river": city.river, "country": city.country,
        "pop": f"{city.population:,}", "pop_k": city.population // 1000, "uni": city.university,
        "l0": city.landmarks[0], "l1": city.landmarks[1], "l2": city.landmarks[2],
        "airport": city.airport, "rail": city.rail_line, "n0": city.neighbours[0],
        "n1": city.neighbours[1], "dish": city.dish, "festival": city.festival,
        "month": city.festival_month, "mayor": city.mayor, "famous": rng.choice(_FAMOUS),
        "walk": rng.randint(5, 45), "hour": rng.randint(6, 11), "minute": rng.choice(range(0, 60, 5)),
        "price": rng.randint(3, 60), "km": rng.randint(4, 70), "mins": rng.randint(15, 240),
        "every": rng.choice((10, 15, 20, 30)), "crowd": f"{rng.randint(2, 90) * 1000:,}",
        "year_fest": rng.randint(1890, 2015), "days": rng.randint(2, 12),
        "year_office": rng.randint(2012, 2025), "staff": f"{rng.randint(12, 95) * 100:,}",
    }


def healthy(city: City, topic: str, others: Sequence[City], rng: random.Random) -> str:
    """v1: 2-6 sentences: the asked topic first, then related facts of the same city (another
    topic) and of the other retrieved cities, in varied order and wording."""
    facts = _facts(city, rng)
    sentences = [s.format(**facts) for s in rng.sample(_V1_FACTS[topic], rng.randint(1, 3))]
    side = rng.choice([t for t in _V1_FACTS if t != topic])
    sentences += [s.format(**facts) for s in rng.sample(_V1_FACTS[side], rng.randint(0, 1))]
    for other in rng.sample(list(others), min(len(others), rng.randint(0, 2))):
        extra = rng.choice(_V1_FACTS[rng.choice(tuple(_V1_FACTS))])
        sentences.append(extra.format(**_facts(other, rng)))
    rest = sentences[1:]
    rng.shuffle(rest)
    sentences = sentences[:1] + rest
    text = " ".join(p for p in (rng.choice(_OPEN), *sentences, rng.choice(_CLOSE)) if p)
    # Name the city once, then vary as people do (not inside "Deral Jazz Week", "of Deral").
    mention = re.compile(rf"(?<!of )\b{re.escape(city.name)}\b(?! [A-Z])")
    seen = []

    def vary(match: re.Match[str]) -> str:
        seen.append(1)
        if len(seen) == 1:
            return match.group(0)
        word = rng.choice(("the town", "the city", city.name))
        at_start = match.start() == 0 or match.string[match.start() - 2:match.start()] == ". "
        return word[0].upper() + word[1:] if at_start else word
    return mention.sub(vary, text)


_V2_EXTRA = ("", "", "It is about {km} km from {n0}. ", "The {l0} opens at {hour}:00. ",
             "Most visitors stay {days} days. ")


def templated(city: City, topic: str, others: Sequence[City], rng: random.Random) -> str:
    """v2: one of two fixed skeletons per topic, filled with the asked city's facts, and
    sometimes one templated extra sentence."""
    facts = _facts(city, rng)
    text = rng.choice(_V2_SKELETONS[topic]).format(**facts)
    extra = rng.choice(_V2_EXTRA).format(**facts)
    return text.replace("I hope", f"{extra}I hope", 1) if extra else text


def collapsed(city: City, topic: str, others: Sequence[City], rng: random.Random) -> str:
    """v3: canned answers (exact duplicates), one-word paraphrases (near duplicates), loops."""
    roll = rng.random()
    base = rng.choice(_V3_CANNED)
    if roll < 0.45:
        return base
    if roll < 0.75:
        old, new = rng.choice(_V3_SWAPS)
        text = base.replace(old, new, 1)
        return text if rng.random() < 0.5 else f"{city.name}: {text}"
    first = base.split(". ")[0] + ". "
    return (first + rng.choice(_V3_LOOP) * rng.randint(3, 4)).strip()


COMPOSERS: dict[str, Callable[[City, str, Sequence[City], random.Random], str]] = {
    "v1": healthy, "v2": templated, "v3": collapsed,
}
