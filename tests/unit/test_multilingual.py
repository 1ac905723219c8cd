"""Signals that mean something in every language: Chinese, Japanese and Thai are written
without spaces, so each character is a token there (``\\w+`` made a whole clause one token);
Arabic and German keep word tokens. And short answers: a gauge with nothing to measure is
not exported."""

from __future__ import annotations

import pytest

from collapse_otel.config import CollapseConfig
from collapse_otel.engine.aggregator import Aggregator
from collapse_otel.engine.feeding import observe_all
from collapse_otel.records import AnswerRecord
from collapse_otel.signals.batch import distinct_n, seq_rep_n
from collapse_otel.text import tokenize
from tests.support.multilingual import VARIED

# One canned sentence per language, with a slot that changes: templated, collapsed answers.
TEMPLATE = {
    "zh": "感谢您的提问，关于{}的信息请访问我们的官方网站获取更多详情。",
    "ja": "ご質問ありがとうございます。{}については公式サイトをご覧ください。",
    "th": "ขอบคุณสำหรับคำถามเกี่ยวกับ{}กรุณาดูรายละเอียดในเว็บไซต์ของเรา",
    "ar": "شكرا على سؤالك عن {} يرجى زيارة موقعنا الرسمي لمزيد من التفاصيل",
    "de": "Danke für Ihre Frage zu {}, weitere Details finden Sie auf unserer offiziellen Webseite.",
}
SLOTS = {"zh": ["北京", "上海", "广州", "成都", "杭州", "桂林", "黄山", "西安"],
         "ja": ["東京", "京都", "大阪", "奈良", "沖縄", "札幌", "神戸", "広島"],
         "th": ["เชียงใหม่", "ภูเก็ต", "อยุธยา", "พัทยา", "กระบี่", "ขอนแก่น", "ระยอง", "ตราด"],
         "ar": ["القاهرة", "الأقصر", "أسوان", "الجيزة", "دهب", "سيوة", "طابا", "رشيد"],
         "de": ["Berlin", "Hamburg", "München", "Köln", "Dresden", "Bremen", "Kiel", "Ulm"]}
LANGUAGES = sorted(VARIED)


@pytest.mark.parametrize("lang", LANGUAGES)
def test_answers_have_many_tokens_in_every_script(lang):
    for text in VARIED[lang]:
        assert len(tokenize(text)) >= 6, (lang, tokenize(text))


@pytest.mark.parametrize("lang", LANGUAGES)
def test_a_templated_release_is_less_diverse_than_a_varied_one(lang):
    templated = [TEMPLATE[lang].format(slot) for slot in SLOTS[lang]]
    varied = VARIED[lang]
    for n in (2, 3):
        assert distinct_n([tokenize(t) for t in templated], n) < \
            0.7 * distinct_n([tokenize(t) for t in varied], n), (lang, n)
    windows = {}
    for name, texts in (("varied", varied), ("templated", templated)):
        agg = Aggregator(CollapseConfig(refresh_seconds=0))
        observe_all(agg, [AnswerRecord(t) for t in texts])
        windows[name] = agg.snapshot().streams[0].window
    assert windows["templated"].get("distinct_3") < windows["varied"].get("distinct_3")
    assert windows["templated"].get("embedding_vendi_score") < \
        windows["varied"].get("embedding_vendi_score")


@pytest.mark.parametrize("lang", LANGUAGES)
def test_near_duplicates_and_loops_are_seen_in_every_script(lang):
    # one token changed in an answer of eight sentences (about 80 words, or 150 characters
    # in the scripts without spaces): Jaccard of 5-gram shingles about 0.9
    original = " ".join(VARIED[lang])
    tokens = tokenize(original)
    swap = next(t for t in tokens[len(tokens) // 2:] if t in original)
    other = next(t for t in tokenize(VARIED[lang][0]) if t != swap and len(t) == len(swap)) \
        if len(swap) == 1 else "xyz"
    variant = original.replace(swap, other, 1)
    assert variant != original
    agg = Aggregator(CollapseConfig(refresh_seconds=0))
    first = agg.observe(AnswerRecord(original))
    second = agg.observe(AnswerRecord(variant))
    assert not first.near_duplicate and second.near_duplicate, (lang, second.max_similarity)
    loop = VARIED[lang][3] + " " + VARIED[lang][3]
    assert seq_rep_n(tokenize(loop), 4) > 0.3


def test_short_answers_export_no_gauge_they_cannot_measure():
    """With no 4-grams in the window, distinct-4 was exported as 0 and across-answer
    repetition as 1 (maximal!). Undefined gauges are omitted now."""
    from collapse_otel.export.prometheus import snapshot_families

    agg = Aggregator(CollapseConfig(refresh_seconds=0))
    observe_all(agg, [AnswerRecord(t) for t in ("ok", "yes thanks", "no", "sure thing")])
    window = agg.snapshot().streams[0].window
    assert window.get("distinct_4") is None and window.get("distinct_3") is None
    assert window.get("repeated_ngram_across_answers") is None
    assert window.get("distinct_1") is not None and window.get("distinct_2") is not None
    samples = {(s.name, s.labels.get("n"), s.labels.get("scope"))
               for fam in snapshot_families(agg.snapshot()) for s in fam.samples}
    assert ("collapse_distinct_ngram_ratio", "4", None) not in samples
    assert ("collapse_repeated_ngram_ratio", None, "across_answers") not in samples
    assert ("collapse_distinct_ngram_ratio", "1", None) in samples
