import textstats


def test_word_count():
    assert textstats.word_count("the quick  brown fox") == 4
    assert textstats.word_count("") == 0


def test_most_common():
    assert textstats.most_common("a b A c") == "a"
    assert textstats.most_common("") == ""
