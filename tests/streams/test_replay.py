"""Dataset readers: every format's mapping, skipped rows with reasons, detection, real files."""

from __future__ import annotations

import gzip
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.replay import (
    READERS,
    SYNTHETIC_EPOCH,
    ReplayStats,
    amazon_reviews,
    detect_format,
    movielens,
    read_dataset,
    retail,
    taobao,
)
from streams.schemas import (
    MAX_TEXT_CHARS,
    ClickEvent,
    InputEvent,
    ProductEvent,
    ReviewEvent,
    SaleEvent,
)

TAOBAO_HEADER = "user_id,item_id,category_id,behavior_type,timestamp\n"
TAOBAO_ROWS = (
    "1,10,100,pv,1511658000\n"
    "2,11,100,cart,1511658001\n"
    "3,12,101,fav,1511658002\n"
    "4,13,101,buy,1511658003\n"
)
RETAIL_HEADER = (
    "InvoiceNo,StockCode,Description,Quantity,InvoiceDate,UnitPrice,CustomerID,Country\n"
)
BLITZER_HEADER = (
    "domain,label,rating,asin,product_name,title,review_text,reviewer,reviewer_location,"
    "date,helpful,product_type,unique_id\n"
)
MCAULEY_HEADER = (
    "reviewerID,asin,reviewerName,helpful,reviewText,overall,summary,unixReviewTime,reviewTime\n"
)


def lines(text: str) -> list[str]:
    return text.splitlines(keepends=True)


def reviews(pairs: Iterable[tuple[str, InputEvent]]) -> list[ReviewEvent]:
    events = [event for _, event in pairs]
    assert all(isinstance(e, ReviewEvent) for e in events)
    return events  # type: ignore[return-value]


def write(path: Path, text: str) -> Path:
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text, encoding="utf-8")
    return path


# --- MovieLens -------------------------------------------------------------------------------


def test_movielens_rows_become_rated_reviews_with_row_ids() -> None:
    pairs = list(movielens(lines("196\t242\t3\t881250949\n186\t302\t5\t891717742\n")))
    assert pairs == [
        (
            "reviews",
            ReviewEvent(
                event_id="movielens:1",
                ts=881250949.0,
                user_id="196",
                product_id="242",
                rating=3,
                text="",
            ),
        ),
        (
            "reviews",
            ReviewEvent(
                event_id="movielens:2",
                ts=891717742.0,
                user_id="186",
                product_id="302",
                rating=5,
                text="",
            ),
        ),
    ]


def test_movielens_bad_rows_are_counted_not_raised() -> None:
    stats = ReplayStats()
    text = "1\t2\t3\n\n1\t2\tx\t881250949\n1\t2\t9\t881250949\n1\t2\t4\t881250949000\n1\t2\t4\t9\n"
    assert list(movielens(lines(text), stats)) == []
    assert stats.read == 5  # the blank line is not a row
    assert stats.skipped == Counter(bad_row=1, bad_value=1, invalid=3)


# --- Taobao ----------------------------------------------------------------------------------


def test_taobao_maps_each_behavior() -> None:
    events = [event for _, event in taobao(lines(TAOBAO_HEADER + TAOBAO_ROWS))]
    view, cart, fav, buy = events
    assert isinstance(view, ClickEvent) and view.action == "view"
    assert isinstance(cart, ClickEvent) and cart.action == "add_to_cart"
    assert isinstance(fav, ClickEvent) and fav.action == "favorite"
    assert buy == SaleEvent(
        event_id="taobao:4",
        ts=1511658003.0,
        user_id="4",
        product_id="13",
        category_id="101",
        quantity=1,
        price=None,
    )
    assert [e.category_id for e in events] == ["100", "100", "101", "101"]


def test_taobao_without_header_gives_the_same_events() -> None:
    with_header = list(taobao(lines(TAOBAO_HEADER + TAOBAO_ROWS)))
    without = list(taobao(lines(TAOBAO_ROWS)))
    assert without == with_header
    assert [t for t, _ in without] == ["clicks", "clicks", "clicks", "sales"]


def test_taobao_skips_unknown_behaviors_and_bad_rows() -> None:
    stats = ReplayStats()
    text = TAOBAO_HEADER + "1,2,3,jump,1511658000\n1,2,3,pv\n1,2,3,pv,soon\n1,2,3,pv,1511658000\n"
    pairs = list(taobao(lines(text), stats))
    assert [e.event_id for _, e in pairs] == ["taobao:4"]  # numbering counts the skipped rows
    assert stats.skipped == Counter(unknown_behavior=1, bad_row=1, bad_value=1)
    assert stats.events == Counter(clicks=1)


# --- UCI Online Retail -----------------------------------------------------------------------

RETAIL = RETAIL_HEADER + (
    "536365,85123A,WHITE HANGING HEART,6,2010-12-01 08:26:00,2.55,17850.0,United Kingdom\n"
    "536366,85123A,WHITE HANGING HEART,2,2010-12-01 08:28:00,2.55,,United Kingdom\n"
    "C536379,D,Discount,-1,2010-12-01 09:41:00,27.5,14527.0,United Kingdom\n"
    "536380,22139,,-5,2010-12-01 09:45:00,0.0,,United Kingdom\n"
    "536381,22139,,1,2010-12-01 09:46:00,0.0,,United Kingdom\n"
    "536382,22139,RETROSPOT TEA SET,1,2010-12-01 09:47:00,4.95,,United Kingdom\n"
    "A563185,B,Adjust bad debt,1,2011-08-12 14:50:00,-11062.06,,United Kingdom\n"
    "536383,22140,X,one,2010-12-01 09:48:00,1.0,,United Kingdom\n"
)


def test_retail_first_sale_of_a_code_is_preceded_by_its_product() -> None:
    pairs = list(retail(lines(RETAIL)))
    assert [(t, e.event_id) for t, e in pairs] == [
        ("products", "retail:1:product"),
        ("sales", "retail:1"),
        ("sales", "retail:2"),
        ("products", "retail:5:product"),  # first sold without a name ...
        ("sales", "retail:5"),
        ("products", "retail:6:product"),  # ... named when a description appears
        ("sales", "retail:6"),
    ]
    product, sale = pairs[0][1], pairs[1][1]
    assert product == ProductEvent(
        event_id="retail:1:product",
        ts=sale.ts,
        product_id="85123A",
        name="WHITE HANGING HEART",
    )
    assert sale == SaleEvent(
        event_id="retail:1",
        ts=datetime(2010, 12, 1, 8, 26, tzinfo=UTC).timestamp(),
        user_id="17850",
        product_id="85123A",
        quantity=6,
        price=2.55,
        currency="GBP",
        order_id="536365",
    )
    assert [e.name for _, e in pairs if isinstance(e, ProductEvent)] == [
        "WHITE HANGING HEART",
        None,
        "RETROSPOT TEA SET",
    ]


def test_retail_anonymous_free_and_skipped_lines() -> None:
    stats = ReplayStats()
    sales = [e for t, e in retail(lines(RETAIL), stats) if isinstance(e, SaleEvent)]
    assert sales[1].user_id == "anonymous"
    assert sales[2].price == 0.0  # a free line is still a sale
    assert stats.read == 8
    assert stats.skipped == Counter(
        cancellation=1, non_positive_quantity=1, negative_price=1, bad_value=1
    )


# --- Amazon reviews --------------------------------------------------------------------------


def test_blitzer_columns() -> None:
    long_text = "x" * (MAX_TEXT_CHARS + 5)
    text = BLITZER_HEADER + (
        'books,1,5.0,0785758968,Sphere,Great,"Loved it, truly",Joseph M,USA,"July 1, 2006",0 of 1,books,a\n'
        f"dvd,0,2.0,B0001,Film,Meh,{long_text},,,someday,,dvd,b\n"
        'kitchen,0,1.0,B0002,Pan,Rusty pan,,Ann,,"Sept. 5, 2006",,kitchen,c\n'
    )
    first, second, third = reviews(amazon_reviews(lines(text)))
    assert first == ReviewEvent(
        event_id="reviews:1",
        ts=datetime(2006, 7, 1, tzinfo=UTC).timestamp(),
        user_id="Joseph M",
        product_id="0785758968",
        text="Loved it, truly",
        rating=5,
        category_id="books",
    )
    assert second.user_id == "anonymous" and second.rating == 2
    assert len(second.text) == MAX_TEXT_CHARS
    assert second.ts == SYNTHETIC_EPOCH + 2
    assert third.text == "Rusty pan"  # no body: the title stands in
    assert third.ts == datetime(2006, 9, 5, tzinfo=UTC).timestamp()


def test_mcauley_columns() -> None:
    text = MCAULEY_HEADER + (
        'A2IBPI20UZIR0U,1384719342,"cassandra tu",[0;0],Not much to write,5.0,good,1393545600,"02 28, 2014"\n'
        'A14VAT5EAX3D9S,1384719342,Jake,"[13, 14]",,3.0,Jake,,"03 16, 2013"\n'
    )
    first, second = reviews(amazon_reviews(lines(text), source="mi"))
    assert first == ReviewEvent(
        event_id="mi:1",
        ts=1393545600.0,
        user_id="A2IBPI20UZIR0U",
        product_id="1384719342",
        text="Not much to write",
        rating=5,
    )
    assert second.ts == datetime(2013, 3, 16, tzinfo=UTC).timestamp()
    assert (second.text, second.rating) == ("Jake", 3)


def test_reviews_without_product_or_with_odd_width_are_skipped() -> None:
    stats = ReplayStats()
    text = MCAULEY_HEADER + "A1,,n,[0],text,5.0,s,1393545600,x\nA1,B1,n\n"
    assert list(amazon_reviews(lines(text), stats)) == []
    assert stats.skipped == Counter(invalid=1, bad_row=1)


def test_a_row_the_csv_module_rejects_is_skipped_and_reading_goes_on() -> None:
    stats = ReplayStats()
    huge = "y" * 200_000  # over csv's default field limit
    text = (
        MCAULEY_HEADER
        + f"A1,B1,n,[0],{huge},5.0,s,1393545600,x\nA2,B2,n,[0],ok,4.0,s,1393545600,x\n"
    )
    assert [e.user_id for e in reviews(amazon_reviews(lines(text), stats))] == ["A2"]
    assert stats.skipped == Counter(bad_csv=1)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.text(max_size=40), max_size=8), st.sampled_from(sorted(READERS)))
def test_no_input_makes_a_reader_raise(rows: list[str], fmt: str) -> None:
    stats = ReplayStats()
    pairs = list(READERS[fmt]([row + "\n" for row in rows], stats))
    assert sum(stats.events.values()) == len(pairs)


# --- Files: detection, read_dataset ----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "text", "fmt"),
    [
        ("u.data", "196\t242\t3\t881250949\n", "movielens"),
        ("ratings.tsv", "196\t242\t3\t881250949\n", "movielens"),
        ("events.csv", TAOBAO_HEADER + TAOBAO_ROWS, "taobao"),
        ("events.csv", TAOBAO_ROWS, "taobao"),
        ("UserBehavior.csv", TAOBAO_ROWS, "taobao"),
        ("retail.csv.gz", RETAIL, "retail"),
        ("reviews.csv.gz", BLITZER_HEADER, "reviews"),
        ("reviews.csv", MCAULEY_HEADER, "reviews"),
    ],
)
def test_detect_format(tmp_path: Path, name: str, text: str, fmt: str) -> None:
    assert detect_format(write(tmp_path / name, text)) == fmt


def test_unknown_formats_fail_at_once(tmp_path: Path) -> None:
    path = write(tmp_path / "notes.txt", "hello\n")
    with pytest.raises(ValueError, match="cannot tell the format"):
        detect_format(path)
    with pytest.raises(ValueError, match="unknown dataset format 'csv'"):
        read_dataset(path, fmt="csv")


def test_read_dataset_gz_limit_and_same_ids_every_run(tmp_path: Path) -> None:
    path = write(tmp_path / "retail.csv.gz", RETAIL)
    first = [e.event_id for _, e in read_dataset(path)]
    assert first == [e.event_id for _, e in read_dataset(path)]
    assert len(set(first)) == len(first) == 7
    assert [e.event_id for _, e in read_dataset(path, limit=3)] == first[:3]
    assert [e.event_id for _, e in read_dataset(path, source="r2")][0] == "r2:1:product"


def test_a_truncated_gz_keeps_what_was_read(tmp_path: Path) -> None:
    body = TAOBAO_HEADER + TAOBAO_ROWS * 2000
    path = tmp_path / "UserBehavior.csv.gz"
    path.write_bytes(gzip.compress(body.encode())[:-40])
    stats = ReplayStats()
    pairs = list(read_dataset(path, stats=stats))
    assert 0 < len(pairs) < 8000
    assert stats.skipped["unreadable_file_tail"] == 1


# --- The real datasets -----------------------------------------------------------------------


def replay(path: Path) -> tuple[list[tuple[str, Any]], ReplayStats]:
    stats = ReplayStats()
    return list(read_dataset(path, stats=stats)), stats


@pytest.mark.data
def test_real_movielens(shared_data: Path) -> None:
    pairs, stats = replay(shared_data / "movielens_100k" / "u.data")
    assert (stats.read, stats.skipped.total(), len(pairs)) == (100_000, 0, 100_000)
    events = [e for _, e in pairs]
    assert len({e.user_id for e in events}) == 943
    assert len({e.product_id for e in events}) == 1682


@pytest.mark.data
def test_real_taobao_counts(shared_data: Path) -> None:
    path = shared_data / "ecom_taobao_userbehavior_sample" / "UserBehavior_sample.csv"
    pairs, stats = replay(path)
    actions = Counter(getattr(e, "action", "buy") for _, e in pairs)
    assert actions == Counter(view=85_773, add_to_cart=5_292, favorite=2_959, buy=2_144)
    assert stats.read == 96_168 and not stats.skipped
    assert len({e.event_id for _, e in pairs}) == 96_168


@pytest.mark.data
def test_real_online_retail(shared_data: Path) -> None:
    path = shared_data / "ecom_uci_online_retail" / "online_retail_2010-12_2011-12.csv.gz"
    pairs, stats = replay(path)
    assert stats.read == 541_909
    assert stats.skipped["cancellation"] == 9_288
    assert stats.skipped.total() == 10_626
    assert stats.events["sales"] == 541_909 - 10_626
    codes = {e.product_id for t, e in pairs if t == "products"}
    assert len(codes) == 3_941  # of 4,070 codes, the ones ever sold


@pytest.mark.data
def test_real_amazon_multidomain(shared_data: Path) -> None:
    path = shared_data / "en_amazon_multidomain_sentiment" / "multidomain_sentiment_labeled.csv.gz"
    pairs, stats = replay(path)
    reviews = [e for _, e in pairs if isinstance(e, ReviewEvent)]
    assert len(reviews) == 8_000 and not stats.skipped
    assert Counter(r.rating for r in reviews) == {5: 2_879, 4: 1_121, 2: 1_579, 1: 2_421}
    assert Counter(r.category_id for r in reviews) == dict.fromkeys(
        ["books", "dvd", "electronics", "kitchen"], 2_000
    )
    undated = [r for r in reviews if r.ts == SYNTHETIC_EPOCH + int(r.event_id.split(":")[1])]
    assert len(undated) == 1  # one row has an empty date; every other date parses
