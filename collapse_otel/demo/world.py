"""The demo's knowledge base: a fictional travel guide generated from a seed.

Fictional on purpose (no false facts about real places), rich in the things collapse signals
look at: multi-word proper nouns, people, dates, numbers with units, codes. Everything is
derived from ``random.Random(seed)``, so every run and every test sees the same world.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from langchain_core.documents import Document

_SYLLABLES = ("al", "der", "mere", "vel", "mar", "ost", "ra", "ken", "tor", "bri", "sa", "lin",
              "dor", "ea", "gan", "thi", "ru", "wen", "fal", "cor", "ise", "mon", "pel", "ny",
              "hav", "ul", "zen", "qua", "bel", "iro")
_PREFIXES = ("Port ", "New ", "Saint ", "Upper ", "", "", "", "", "Old ", "Lake ")
_SUFFIXES = ("", "", "", " Bay", " Falls", " Heights", "", " Harbour")
_FIRST = ("Amelia", "Bruno", "Chiara", "Dmitri", "Elena", "Farid", "Greta", "Hiro", "Ines",
          "Jonas", "Keira", "Lukas", "Mira", "Nikolai", "Olga", "Pablo", "Rosa", "Sven",
          "Talia", "Umar", "Vera", "Wim", "Yara", "Zoltan")
_LAST = ("Okafor", "Lindqvist", "Moreau", "Castellano", "Novak", "Haddad", "Brennan", "Sato",
         "Kowalski", "Ferreira", "Ivanova", "Mbeki", "Rossi", "Van Dijk", "Adeyemi", "Larsen")
_COUNTRIES = ("Ostravia", "the Kellan Republic", "Marisol", "Northern Vey", "Tarvana",
              "the Duchy of Brenn", "Calloway", "Isembard")
_LANDMARK_KINDS = ("Cathedral", "Museum of Modern Art", "Botanical Garden", "Observatory",
                   "Opera House", "Clock Tower", "Maritime Museum", "Old Market Hall",
                   "Castle", "Library")
_DISHES = ("smoked river trout", "saffron dumplings", "black garlic stew", "honey rye bread",
           "chestnut pancakes", "pickled herring toast", "lamb with quince", "almond tarts",
           "mushroom barley soup", "spiced plum cake")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")
_FESTIVALS = ("Lantern Festival", "Jazz Week", "Harvest Fair", "Film Festival",
              "Kite Parade", "Winter Market", "Book Fair", "Light Biennale")
TOPICS = ("history", "sights", "transport", "food", "events", "people")


@dataclass(frozen=True)
class City:
    name: str
    slug: str
    country: str
    founded: int
    population: int
    mayor: str
    river: str
    landmarks: tuple[str, ...]
    dish: str
    festival: str
    festival_month: str
    airport: str
    rail_line: str
    university: str
    neighbours: tuple[str, ...] = ()


def _word(rng: random.Random, parts: int) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(parts)).capitalize()


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def make_cities(seed: int = 7, count: int = 80) -> list[City]:
    rng = random.Random(seed)
    cities: list[City] = []
    names: set[str] = set()
    while len(cities) < count:
        stem = _word(rng, rng.choice((2, 2, 3)))
        name = f"{rng.choice(_PREFIXES)}{stem}{rng.choice(_SUFFIXES)}"
        if name in names:
            continue
        names.add(name)
        kinds = rng.sample(_LANDMARK_KINDS, 3)
        landmarks = tuple(f"{rng.choice((stem, _word(rng, 2), rng.choice(_LAST)))} {k}"
                          for k in kinds)
        cities.append(City(
            name=name, slug=name.lower().replace(" ", "-"), country=rng.choice(_COUNTRIES),
            founded=rng.randint(1050, 1920), population=rng.randint(8, 2400) * 1000 + rng.randint(0, 999),
            mayor=_person(rng), river=f"{_word(rng, 2)} River", landmarks=landmarks,
            dish=rng.choice(_DISHES), festival=f"{stem} {rng.choice(_FESTIVALS)}",
            festival_month=rng.choice(_MONTHS), airport=(stem[:2] + name[-1]).upper(),
            rail_line=f"{rng.choice(('Coastal', 'Northern', 'Capital', 'Valley', 'Amber'))} Line "
                      f"{rng.randint(1, 12)}",
            university=f"University of {stem}"))
    linked = []
    for c in cities:
        others = rng.sample([o.name for o in cities if o.name != c.name], 2)
        linked.append(City(**{**c.__dict__, "neighbours": tuple(others)}))
    return linked


def _topic_text(c: City, topic: str) -> str:
    if topic == "history":
        return (f"{c.name} was founded in {c.founded} on the banks of the {c.river} in {c.country}. "
                f"It grew around the {c.landmarks[0]} and today has {c.population:,} residents.")
    if topic == "sights":
        return (f"Visitors to {c.name} should see the {c.landmarks[0]}, the {c.landmarks[1]} and "
                f"the {c.landmarks[2]}. Walks along the {c.river} start near the old town.")
    if topic == "transport":
        return (f"{c.name} is served by airport code {c.airport} and the {c.rail_line}. "
                f"Trains run to {c.neighbours[0]} and {c.neighbours[1]} several times a day.")
    if topic == "food":
        return (f"The signature dish of {c.name} is {c.dish}. Markets near the {c.landmarks[1]} "
                f"sell it every morning.")
    if topic == "events":
        return (f"The {c.festival} takes place every {c.festival_month} in {c.name}, with "
                f"concerts by students of the {c.university}.")
    return (f"The mayor of {c.name} is {c.mayor}. The {c.university} is the largest employer "
            f"after the port authority.")


def make_documents(cities: list[City]) -> list[Document]:
    """One document per (city, topic), with a stable id and metadata the agent reads."""
    return [Document(id=f"{c.slug}/{topic}", page_content=_topic_text(c, topic),
                     metadata={"city": c.name, "topic": topic})
            for c in cities for topic in TOPICS]


_QUESTIONS = {
    "history": ("When was {c} founded?", "Tell me about the history of {c}.",
                "How old is {c} and how many people live there?"),
    "sights": ("What should I visit in {c}?", "What are the main sights of {c}?",
               "I have one day in {c}, what should I see?"),
    "transport": ("How do I get to {c}?", "Is there a train from {c} to nearby towns?",
                  "Which airport serves {c}?"),
    "food": ("What food is {c} known for?", "Where can I eat well in {c}?",
             "What is the local dish in {c}?"),
    "events": ("Are there festivals in {c}?", "When is the best time to visit {c}?",
               "What events happen in {c}?"),
    "people": ("Who is the mayor of {c}?", "Who runs {c}?", "What is the main university in {c}?"),
}


def make_question(rng: random.Random, cities: list[City]) -> tuple[str, City, str]:
    city = rng.choice(cities)
    topic = rng.choice(TOPICS)
    return rng.choice(_QUESTIONS[topic]).format(c=city.name), city, topic
