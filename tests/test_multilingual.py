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

VARIED = {
    "zh": ["北京是中国的首都，有三千多年的历史。", "长城全长两万多公里，是世界上最长的建筑。",
           "上海位于长江入海口，是中国最大的城市。", "西湖在杭州，春天的时候游客特别多。",
           "成都的火锅很有名，味道又麻又辣。", "黄山以奇松、怪石、云海和温泉闻名。",
           "广州的早茶文化历史悠久，点心种类繁多。", "桂林山水甲天下，漓江风景非常美丽。"],
    "ja": ["東京は日本の首都で、人口は約千四百万人です。", "富士山の高さは三千七百七十六メートルです。",
           "京都には千年以上の歴史を持つ寺がたくさんあります。", "大阪はたこ焼きとお好み焼きで有名です。",
           "北海道の冬はとても寒く、雪がたくさん降ります。", "奈良公園では鹿が自由に歩いています。",
           "沖縄の海は透明で、サンゴ礁がとてもきれいです。", "新幹線は東京から大阪まで約二時間半かかります。"],
    "th": ["กรุงเทพมหานครเป็นเมืองหลวงของประเทศไทย", "เชียงใหม่มีวัดเก่าแก่มากกว่าสามร้อยแห่ง",
           "ภูเก็ตเป็นเกาะที่ใหญ่ที่สุดในประเทศไทย", "อาหารไทยมีรสชาติเปรี้ยวหวานเค็มและเผ็ด",
           "ตลาดน้ำดำเนินสะดวกเปิดทุกวันตั้งแต่เช้า", "อยุธยาเคยเป็นราชธานีนานกว่าสี่ร้อยปี",
           "ฤดูฝนในประเทศไทยเริ่มประมาณเดือนพฤษภาคม", "ช้างเป็นสัตว์ประจำชาติของประเทศไทย"],
    "ar": ["القاهرة هي عاصمة مصر وأكبر مدنها من حيث عدد السكان", "يبلغ طول نهر النيل أكثر من ستة آلاف كيلومتر",
           "بنيت الأهرامات في الجيزة قبل أكثر من أربعة آلاف عام", "تشتهر مدينة الإسكندرية بمكتبتها القديمة وشواطئها الجميلة",
           "يفضل زيارة الأقصر في فصل الشتاء لاعتدال الطقس", "يقع البحر الأحمر شرق مصر وهو مقصد للغوص",
           "القهوة العربية تقدم عادة مع التمر في الضيافة", "مدينة أسوان مشهورة بالسد العالي ومعبد فيلة"],
    "de": ["Berlin ist die Hauptstadt Deutschlands und hat fast vier Millionen Einwohner.",
           "Die Zugspitze ist mit 2962 Metern der höchste Berg des Landes.",
           "Im Oktober findet in München das Oktoberfest auf der Theresienwiese statt.",
           "Der Rhein fließt durch die Schweiz, Deutschland und die Niederlande.",
           "Hamburg besitzt mehr Brücken als Venedig und Amsterdam zusammen.",
           "Die Straßenbahn in Dresden fährt auch nachts in kurzen Abständen.",
           "Schloss Neuschwanstein wurde im neunzehnten Jahrhundert erbaut.",
           "Viele Bäckereien öffnen schon um sechs Uhr morgens ihre Türen."],
}
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
