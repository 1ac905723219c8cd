"""Eight short answers in each of five scripts: three written without spaces (Chinese, Japanese,
Thai) and two with word tokens (Arabic, German)."""

from __future__ import annotations

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
