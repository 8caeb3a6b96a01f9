"""Chinese aspects: clauses split on Chinese punctuation, jieba words, nouns by jieba's lexicon.

A word is an aspect when jieba's dictionary tags it a noun (``n``, ``vn``, ``nz``)
or it is one of :data:`HINTS` (aspects jieba tags a verb or adjective: 包装,
快递, 做工 ...), it has at least two characters and is not in :data:`STOP` (words
that name the purchase itself, people, time or nothing in particular). Only
jieba's dictionary is used (``HMM=False``): segmentation and tags are then a pure
function of the text and the pinned jieba version, as replicas need.

>>> [a for a, _ in aspects_zh("物流很快，质量不错！就是包装有点简陋。")]
['物流', '质量', '包装']
>>> clauses("屏幕很好,但是电池不行。")
['屏幕很好', '但是电池不行']
"""

from __future__ import annotations

import functools
import logging
import re


def words(text: str) -> frozenset[str]:
    """The blank-separated words of ``text``."""
    return frozenset(text.split())


#: Clause boundaries: Chinese and ASCII sentence and clause punctuation, and line breaks.
CLAUSE_SPLIT = re.compile(r"[。！？；，、…~～!?;,.\s\n\r]+")

#: Tags of jieba's dictionary that mark a noun-like aspect.
NOUN_TAGS = frozenset({"n", "vn", "nz"})

#: Aspect words jieba's dictionary tags as verbs or adjectives.
HINTS = words(
    "包装 做工 快递 位置 卫生 服务 售后 配送 送货 发货 安装 续航 散热 保修 退货 换货 "
    "装修 隔音 清洗 充电 待机 运行 显示 噪音 口感 保湿 去屑 止痒 出水 加热 印刷"
)

#: Nouns that are not aspects of a product: the purchase itself, people, time, vague words.
STOP = words(
    "东西 宝贝 商品 产品 物品 东东 货物 本书 书籍 这本书 一本 时候 时间 感觉 大家 朋友 "
    "老婆 老公 媳妇 孩子 儿子 女儿 家人 同事 妈妈 爸爸 我们 你们 他们 自己 别人 人家 "
    "京东 淘宝 天猫 当当 亚马逊 卓越 网上 网站 店家 店铺 这家 一家 地方 事情 问题 情况 "
    "东西 样子 方面 原因 结果 时候 今天 昨天 明天 上午 下午 晚上 早上 第一次 一次 下次 "
    "以后 之前 之后 平时 有所 有点 一点 一下 以上 左右 希望 评价 好评 差评 满意 性价 "
    "活动 单位 价格合理 加点 有空 隔天 玩游戏 总体 整体 总之 不过 但是 只是 还是 垃圾 购物 "
    "建议 评论 联系 小时 太小 实惠 下单 客人 降价 反应 好处 缺点 优点 毛病 理由 印象"
)


@functools.cache
def _tags() -> dict[str, str]:
    """jieba's word -> part-of-speech lexicon (loaded once, about a second)."""
    import jieba
    import jieba.posseg

    jieba.setLogLevel(logging.WARNING)
    return jieba.posseg.dt.word_tag_tab  # type: ignore[no-any-return]


def clauses(text: str) -> list[str]:
    """``text`` cut at Chinese and ASCII punctuation, blanks dropped."""
    return [part for part in CLAUSE_SPLIT.split(text.replace("\ufeff", "")) if part]


def _is_aspect(word: str, tags: dict[str, str]) -> bool:
    if len(word) < 2 or word in STOP:
        return False
    return word in HINTS or tags.get(word) in NOUN_TAGS


def aspects_zh(text: str, limit: int = 8) -> list[tuple[str, str]]:
    """Distinct aspects of ``text`` in order of first mention, each with its clause."""
    import jieba

    tags, found = _tags(), dict[str, str]()
    for clause in clauses(text):
        for word in jieba.cut(clause, HMM=False):
            if word not in found and _is_aspect(word, tags):
                found[word] = clause
                if len(found) >= limit:
                    return list(found.items())
    return list(found.items())
