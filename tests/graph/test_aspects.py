"""Aspect extraction: rules on crafted sentences, spot checks on real reviews."""

from __future__ import annotations

import random
from collections import Counter

import pytest

from graph.aspects import extract_aspects, language, review_sentiment
from graph.aspects_en import sentences
from graph.knowledge import KnowledgeGraph
from graph.queries import product_aspects


def words(text: str) -> set[str]:
    return set(text.split())


#: Words a person would call a product aspect (for the spot checks' precision).
ZH_ASPECTS = words(
    "物流 质量 快递 包装 价格 屏幕 服务 味道 速度 房间 早餐 环境 位置 交通 设施 前台 卫生 客服 "
    "外观 性能 系统 电池 键盘 散热 驱动 内存 硬盘 声音 音质 效果 头发 头皮屑 面料 颜色 款式 尺码 "
    "做工 手感 个头 口感 发货 送货 配送 售后 退货 赠品 正品 假货 服务员 服务态度 态度 性价比 "
    "分辨率 信号 待机时间 死机 机身 功能 设计 隔音 床 空调 餐厅 宾馆 酒店 苹果 水果 手机 平板 "
    "衣服 裤子 洗发水 电脑 机器 图片 卖家 商家 牌子 品牌 尺寸 大小 新鲜 保质期 日期 价钱 味 "
    "系统 软件 游戏 视频 耳机 摄像头 电话 铃声 机子 蒙牛 牛奶 书 内容 作者 印刷 纸张 故事"
)
EN_ASPECTS = words(
    "price sound quality speaker picture sound quality cable headphone battery unit phone device "
    "computer card software company size handle knife set dishwasher machine pot bottom coffee "
    "box blade water lid design screen remote button volume power cord case color setup service "
    "customer service warranty replacement manual instructions mouse keyboard printer router "
    "radio camera lens charger battery life reception signal range bass ear fit weight model "
    "brand plastic material steel pan blender cup kitchen food heat temperature timer motor "
    "noise display feature features interface installation delivery shipping packaging "
    "disc player tv monitor drive memory storage space toaster oven grill glass filter"
) | {"sound quality", "customer service", "battery life", "storage space", "remote control"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The delivery was late and the box was crushed.", ["delivery", "box"]),
        ("Great sound, poor battery life.", ["sound", "battery life"]),
        ("Batteries died in a week. It works.", []),
        ("I love the headphones but the cable broke.", ["headphone", "cable"]),
        ("物流很快，质量不错！", ["物流", "质量"]),
        ("房间很干净，早餐一般，前台服务态度差", ["房间", "早餐", "前台", "服务态度"]),
        ("", []),
        ("¡Excelente producto!", []),
    ],
)
def test_crafted_reviews(text: str, expected: list[str]) -> None:
    assert [a for a, _ in extract_aspects(text)] == expected


def test_each_aspect_comes_with_its_sentence() -> None:
    found = dict(extract_aspects("Fast delivery. The screen scratches easily; the price is fair."))
    assert found == {
        "delivery": "Fast delivery.",
        "screen": "The screen scratches easily;",
        "price": "the price is fair.",
    }
    assert dict(extract_aspects("快递很快，屏幕有划痕"))["屏幕"] == "屏幕有划痕"


def test_language_and_limits() -> None:
    assert language("这个手机很好 but") == "zh" and language("great phone 好") == "en"
    assert language("x", lang="de") is None
    text = ", ".join(f"the {w} is ok" for w in ["screen", "case", "cable", "price", "box"])
    assert len(extract_aspects(text, limit=3)) == 3
    assert review_sentiment(None, None) is None and review_sentiment({"score": 3.0}, None) == 1.0


def _aspect_graph(reviews: list[tuple[str, str, float]]) -> KnowledgeGraph:
    g = KnowledgeGraph(half_life=None)
    for i, (product, text, score) in enumerate(reviews):
        g.apply(
            {
                "topic": "reviews",
                "event": {
                    "event_id": str(i),
                    "ts": 1.7e9 + i,
                    "user_id": f"u{i}",
                    "product_id": product,
                    "text": text,
                },
                "sentiment": {
                    "score": score,
                    "label": "",
                    "confidence": 1.0,
                    "model_version": "label",
                },
            }
        )
    return g


@pytest.mark.data
def test_chinese_aspects_of_real_reviews(zh_reviews: list[dict[str, str]]) -> None:
    sample = random.Random(3).sample(zh_reviews, 4_000)
    counts = Counter(a for r in sample for a, _ in extract_aspects(r["review"]))
    top = [a for a, _ in counts.most_common(30)]
    assert {"物流", "质量", "快递", "包装", "价格", "屏幕", "服务"} <= set(top)
    assert sum(a in ZH_ASPECTS for a in top) >= 27, [a for a in top if a not in ZH_ASPECTS]
    g = _aspect_graph([(r["cat"], r["review"], 0.8 if r["label"] == "1" else -0.8) for r in sample])
    computers = product_aspects(g, "计算机", k=5)
    assert {"外观", "性价比"} <= {a["aspect"] for a in computers["praised"]}
    assert {"系统", "驱动"} <= {a["aspect"] for a in computers["complained"]}
    phones = product_aspects(g, "手机", k=8)
    assert "电池" in {a["aspect"] for a in phones["complained"]}


@pytest.mark.data
def test_english_aspects_of_real_reviews(en_reviews: list[dict[str, str]]) -> None:
    sample = [r for r in en_reviews if r["domain"] in ("electronics", "kitchen")]
    counts = Counter(a for r in sample for a, _ in extract_aspects(r["review_text"]))
    top = [a for a, _ in counts.most_common(30)]
    assert {"price", "quality", "sound", "battery"} <= set(top)
    assert sum(a in EN_ASPECTS for a in top) >= 24, [a for a in top if a not in EN_ASPECTS]
    g = _aspect_graph(
        [(r["domain"], r["review_text"], 0.8 if r["label"] == "1" else -0.8) for r in sample]
    )
    electronics = product_aspects(g, "electronics", k=8)
    assert {"price", "sound", "quality"} <= {a["aspect"] for a in electronics["praised"]}
    assert {"battery", "software"} <= {a["aspect"] for a in electronics["complained"]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Works.  Great!\tNice", ["Works.", "Great!", "Nice"]),
        ("fine; \n\n but the strap broke", ["fine;", "but the strap broke"]),
        ("Loud BUT\tclear", ["Loud", "BUT\tclear"]),
        ("a butterfly but no\nnet", ["a butterfly", "but no", "net"]),
        ("x \n  y:z", ["x", "y:z"]),
        ("Nice screen, though the battery dies", ["Nice screen,", "though the battery dies"]),
        ("ok although slow, however\tcheap", ["ok", "although slow,", "however\tcheap"]),
        ("thoughtful whereas", ["thoughtful whereas"]),
        ("   ", []),
    ],
)
def test_sentences_split_after_punctuation_at_line_breaks_and_before_contrasts(
    text: str, expected: list[str]
) -> None:
    assert sentences(text) == expected
